//! Runbook tests.
