//! The settings that make a node part of a cluster: its roles, the controller quorum, the
//! listeners peers use, and the replication timers.
//!
//! Inputs: Kafka's broker keys (`process.roles`, `controller.quorum.voters`,
//! `controller.listener.names`, `inter.broker.listener.name`,
//! `listener.security.protocol.map`, `broker.session.timeout.ms`,
//! `broker.heartbeat.interval.ms`, `replica.lag.time.max.ms`, `replica.fetch.max.bytes`,
//! `replica.fetch.wait.max.ms`, `controller.quorum.*`). Outputs: [`ClusterConfig`], checked
//! against the listeners by [`ClusterConfig::validate`].
//!
//! Invariants: with no `controller.quorum.voters` the node is a standalone combined node
//! (`broker,controller`) and the only voter of its quorum — it elects itself and never calls
//! a peer. With voters, a controller's id is one of them and it has a controller listener; a
//! broker never listens on a controller listener name alone. Every listener name maps to
//! PLAINTEXT (the only security protocol odradek speaks).

use super::Endpoint;
use std::collections::BTreeMap;
use std::fmt;

/// `process.roles`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles { broker: true, controller: true }
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [(self.broker, "broker"), (self.controller, "controller")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        write!(f, "{}", names.join(","))
    }
}

/// One entry of `controller.quorum.voters`: `id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVoter {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for QuorumVoter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.node_id, self.host, self.port)
    }
}

/// A node's place in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub process_roles: Roles,
    /// Empty: a standalone node that is its own quorum.
    pub quorum_voters: Vec<QuorumVoter>,
    pub controller_listener_names: Vec<String>,
    /// The listener brokers fetch from each other on; `None`: the first broker listener.
    pub inter_broker_listener_name: Option<String>,
    /// `listener.security.protocol.map`, when given: listener name → protocol.
    pub security_protocol_map: Option<BTreeMap<String, String>>,
    pub broker_session_timeout_ms: i64,
    pub broker_heartbeat_interval_ms: i64,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_wait_max_ms: i32,
    pub quorum_election_timeout_ms: i64,
    pub quorum_fetch_timeout_ms: i64,
    pub quorum_request_timeout_ms: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            process_roles: Roles::default(),
            quorum_voters: Vec::new(),
            controller_listener_names: vec!["CONTROLLER".into()],
            inter_broker_listener_name: None,
            security_protocol_map: None,
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_wait_max_ms: 500,
            quorum_election_timeout_ms: 1_000,
            quorum_fetch_timeout_ms: 2_000,
            quorum_request_timeout_ms: 2_000,
        }
    }
}

/// The security protocols, which Kafka's default `listener.security.protocol.map` maps to
/// listeners of the same name.
const KAFKA_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// The keys this module parses.
pub const KEYS: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "replica.lag.time.max.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.wait.max.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.request.timeout.ms",
];

impl ClusterConfig {
    /// Sets one of [`KEYS`]; `Err` says what is wrong with the value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let positive = |value: &str| super::parse_long(value, 1, i64::from(i32::MAX));
        match key {
            "process.roles" => self.process_roles = parse_roles(value)?,
            "controller.quorum.voters" => self.quorum_voters = parse_voters(value)?,
            "controller.listener.names" => {
                self.controller_listener_names = parse_names(value);
                if self.controller_listener_names.is_empty() {
                    return Err("names no listener".into());
                }
            }
            "inter.broker.listener.name" => {
                self.inter_broker_listener_name = Some(value.trim().to_string())
            }
            "listener.security.protocol.map" => {
                self.security_protocol_map = Some(parse_protocol_map(value)?)
            }
            "broker.session.timeout.ms" => self.broker_session_timeout_ms = positive(value)?,
            "broker.heartbeat.interval.ms" => self.broker_heartbeat_interval_ms = positive(value)?,
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms = positive(value)?,
            "replica.fetch.max.bytes" => self.replica_fetch_max_bytes = positive(value)? as i32,
            "replica.fetch.wait.max.ms" => self.replica_fetch_wait_max_ms = positive(value)? as i32,
            "controller.quorum.election.timeout.ms" => {
                self.quorum_election_timeout_ms = positive(value)?
            }
            "controller.quorum.fetch.timeout.ms" => self.quorum_fetch_timeout_ms = positive(value)?,
            "controller.quorum.request.timeout.ms" => {
                self.quorum_request_timeout_ms = positive(value)?
            }
            other => unreachable!("{other} is not one of cluster::KEYS"),
        }
        Ok(())
    }

    /// Whether this node runs alone, its own quorum.
    pub fn is_standalone(&self) -> bool {
        self.quorum_voters.is_empty()
    }

    /// The voter ids: the configured voters, or `node_id` alone when standalone.
    pub fn voter_ids(&self, node_id: i32) -> Vec<i32> {
        if self.is_standalone() {
            vec![node_id]
        } else {
            self.quorum_voters.iter().map(|v| v.node_id).collect()
        }
    }

    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// Checks the settings against each other and against `listeners`; the error names the
    /// key at fault.
    pub fn validate(&self, node_id: i32, listeners: &[Endpoint]) -> Result<(), (String, String)> {
        let fail = |key: &str, reason: String| Err((key.to_string(), reason));
        for listener in listeners {
            let name = &listener.listener_name;
            let protocol = match &self.security_protocol_map {
                Some(map) => map.get(name).cloned(),
                // Kafka's default map names each protocol after itself; KRaft adds the
                // controller listeners as PLAINTEXT.
                None if KAFKA_PROTOCOLS.contains(&name.as_str()) => Some(name.clone()),
                None if self.is_controller_listener(name) => Some("PLAINTEXT".into()),
                None => None,
            };
            match protocol.as_deref() {
                Some("PLAINTEXT") => {}
                Some(other) => {
                    return fail(
                        "listener.security.protocol.map",
                        format!("listener {name} uses {other}; only PLAINTEXT is supported yet"),
                    )
                }
                None => {
                    return fail(
                        "listeners",
                        format!("listener {name} has no security protocol: name it in listener.security.protocol.map or controller.listener.names"),
                    )
                }
            }
        }
        let roles = self.process_roles;
        let has_controller_listener =
            listeners.iter().any(|l| self.is_controller_listener(&l.listener_name));
        let has_broker_listener =
            listeners.iter().any(|l| !self.is_controller_listener(&l.listener_name));
        if roles.broker && !has_broker_listener {
            return fail(
                "listeners",
                "a broker needs a listener that is not a controller listener".into(),
            );
        }
        if let Some(name) = &self.inter_broker_listener_name {
            if !listeners.iter().any(|l| &l.listener_name == name) {
                return fail("inter.broker.listener.name", format!("{name} is not in listeners"));
            }
            if self.is_controller_listener(name) {
                return fail(
                    "inter.broker.listener.name",
                    format!("{name} is a controller listener"),
                );
            }
        }
        if self.is_standalone() {
            if roles != Roles::default() {
                return fail(
                    "controller.quorum.voters",
                    format!("process.roles={roles} needs controller.quorum.voters (a standalone node is broker,controller)"),
                );
            }
            return Ok(());
        }
        let is_voter = self.quorum_voters.iter().any(|v| v.node_id == node_id);
        if roles.controller && !is_voter {
            return fail(
                "controller.quorum.voters",
                format!("node {node_id} has the controller role but is not a voter"),
            );
        }
        if !roles.controller && is_voter {
            return fail(
                "controller.quorum.voters",
                format!("node {node_id} is a voter but process.roles={roles} has no controller"),
            );
        }
        if roles.controller && !has_controller_listener {
            return fail(
                "controller.listener.names",
                format!(
                    "a controller needs a listener named one of {:?}",
                    self.controller_listener_names
                ),
            );
        }
        if self.broker_heartbeat_interval_ms >= self.broker_session_timeout_ms {
            return fail(
                "broker.heartbeat.interval.ms",
                format!(
                    "{} must be below broker.session.timeout.ms ({})",
                    self.broker_heartbeat_interval_ms, self.broker_session_timeout_ms
                ),
            );
        }
        Ok(())
    }
}

fn parse_names(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn parse_roles(value: &str) -> Result<Roles, String> {
    let mut roles = Roles { broker: false, controller: false };
    for name in parse_names(value) {
        let role = match name.as_str() {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            other => return Err(format!("unknown role {other:?} (expected broker, controller)")),
        };
        if *role {
            return Err(format!("role {name} is named twice"));
        }
        *role = true;
    }
    if !roles.broker && !roles.controller {
        return Err("names no role".into());
    }
    Ok(roles)
}

/// Parses `1@host:port,2@host:port`.
pub fn parse_voters(value: &str) -> Result<Vec<QuorumVoter>, String> {
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for item in parse_names(value) {
        let (id, address) =
            item.split_once('@').ok_or_else(|| format!("{item:?} is not id@host:port"))?;
        let node_id: i32 = id
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("{item:?}: {id:?} is not a node id"))?;
        let (host, port) =
            address.rsplit_once(':').ok_or_else(|| format!("{item:?} has no port"))?;
        let port: u16 = port.parse().map_err(|_| format!("{item:?} has a bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{item:?} has no host"));
        }
        if voters.iter().any(|v| v.node_id == node_id) {
            return Err(format!("voter {node_id} is named twice"));
        }
        voters.push(QuorumVoter { node_id, host: host.to_string(), port });
    }
    if voters.is_empty() {
        return Err("names no voter".into());
    }
    Ok(voters)
}

fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for item in parse_names(value) {
        let (name, protocol) =
            item.split_once(':').ok_or_else(|| format!("{item:?} is not NAME:PROTOCOL"))?;
        map.insert(name.trim().to_string(), protocol.trim().to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str, port: u16) -> Endpoint {
        Endpoint { listener_name: name.into(), host: "127.0.0.1".into(), port }
    }

    fn three_voters() -> ClusterConfig {
        let mut config = ClusterConfig::default();
        config
            .set("controller.quorum.voters", "1@127.0.0.1:9093,2@127.0.0.1:9193,3@h:9293")
            .unwrap();
        config
    }

    #[test]
    fn voters_parse_from_ids_and_addresses() {
        let voters = parse_voters("1@localhost:9093, 2@[::1]:9094").unwrap();
        assert_eq!(voters[1], QuorumVoter { node_id: 2, host: "::1".into(), port: 9094 });
        for (bad, why) in [
            ("1localhost:9093", "not id@host:port"),
            ("x@h:1", "not a node id"),
            ("1@h", "no port"),
            ("1@h:1,1@h:2", "named twice"),
            ("", "no voter"),
        ] {
            let error = parse_voters(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn roles_parse_and_reject_nonsense() {
        assert_eq!(parse_roles("controller").unwrap(), Roles { broker: false, controller: true });
        assert_eq!(parse_roles("broker, controller").unwrap(), Roles::default());
        assert!(parse_roles("zookeeper").unwrap_err().contains("unknown role"));
        assert!(parse_roles("broker,broker").unwrap_err().contains("twice"));
    }

    #[test]
    fn a_standalone_node_is_combined_and_its_own_voter() {
        let config = ClusterConfig::default();
        assert!(config.is_standalone());
        assert_eq!(config.voter_ids(7), vec![7]);
        config.validate(7, &[endpoint("PLAINTEXT", 9092)]).unwrap();
        let mut broker_only = config.clone();
        broker_only.set("process.roles", "broker").unwrap();
        let (key, _) = broker_only.validate(7, &[endpoint("PLAINTEXT", 9092)]).unwrap_err();
        assert_eq!(key, "controller.quorum.voters");
    }

    #[test]
    fn a_controller_needs_its_listener_and_its_vote() {
        let listeners = [endpoint("PLAINTEXT", 9092), endpoint("CONTROLLER", 9093)];
        let config = three_voters();
        config.validate(1, &listeners).unwrap();
        let (key, reason) = config.validate(4, &listeners).unwrap_err();
        assert_eq!(key, "controller.quorum.voters", "{reason}");
        let (key, _) = config.validate(1, &listeners[..1]).unwrap_err();
        assert_eq!(key, "controller.listener.names");
        let mut broker = config.clone();
        broker.set("process.roles", "broker").unwrap();
        broker.validate(4, &listeners[..1]).unwrap();
        let (key, _) = broker.validate(1, &listeners[..1]).unwrap_err();
        assert_eq!(key, "controller.quorum.voters");
    }

    #[test]
    fn listener_names_need_a_plaintext_protocol() {
        let config = three_voters();
        let (key, reason) =
            config.validate(1, &[endpoint("INTERNAL", 1), endpoint("CONTROLLER", 2)]).unwrap_err();
        assert_eq!(key, "listeners", "{reason}");
        let mut mapped = config.clone();
        mapped
            .set("listener.security.protocol.map", "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT")
            .unwrap();
        mapped.validate(1, &[endpoint("INTERNAL", 1), endpoint("CONTROLLER", 2)]).unwrap();
        mapped.set("listener.security.protocol.map", "INTERNAL:SSL,CONTROLLER:PLAINTEXT").unwrap();
        let (_, reason) =
            mapped.validate(1, &[endpoint("INTERNAL", 1), endpoint("CONTROLLER", 2)]).unwrap_err();
        assert!(reason.contains("only PLAINTEXT"), "{reason}");
    }
}
