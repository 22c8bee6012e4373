//! RecordBatch v2 on the client side: encode a producer batch, decode a Fetch response.
//!
//! Inputs: records to send (with producer id/epoch/base sequence, -1 when not idempotent);
//! the `records` bytes of one partition of a Fetch response, the fetch offset and the
//! isolation level. Outputs: one encoded batch; the records at or after the fetch offset and
//! the next offset to fetch.
//! Invariants: an encoded producer batch is exactly one RecordBatch (the crate splits
//! batches whenever `offset - sequence` changes, so sequences advance with offsets —
//! kafka-protocol pitfall 5); decoding stops cleanly at a partial trailing batch (a fetch may
//! cut the last batch at `max_bytes`); whole batches below the fetch offset and records
//! before it inside a batch are skipped; control batches are never returned, and with
//! read_committed neither are batches of aborted transactions.

use std::collections::{BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as WireCompression, Record, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

use super::{ClientError, Result};
use crate::log::batch::{BatchHeader, BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES};

/// One record as the producer hands it to the encoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OutgoingRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub timestamp_ms: i64,
}

/// Who wrote a batch, for idempotence; all -1 for a plain producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerIdentity {
    pub const NONE: ProducerIdentity =
        ProducerIdentity { producer_id: -1, producer_epoch: -1, base_sequence: -1 };
}

/// Kafka's estimate of one record's size inside a batch (`DefaultRecord.sizeInBytes` upper
/// bound): body plus the varint length prefixes, used for `batch_size` accounting.
pub(crate) fn estimated_record_bytes(record: &OutgoingRecord) -> usize {
    // attributes(1) + timestampDelta(<=10) + offsetDelta(<=5) + length(<=5) + 3 null/len(<=5 each)
    const RECORD_OVERHEAD_BYTES: usize = 1 + 10 + 5 + 5 + 5 + 5 + 5;
    let key = record.key.as_ref().map_or(0, Bytes::len);
    let value = record.value.as_ref().map_or(0, Bytes::len);
    let headers: usize =
        record.headers.iter().map(|(k, v)| 10 + k.len() + v.as_ref().map_or(0, Bytes::len)).sum();
    RECORD_OVERHEAD_BYTES + key + value + headers
}

/// The bytes of a batch around its records.
pub(crate) const BATCH_OVERHEAD_BYTES: usize = BATCH_HEADER_BYTES;

/// Encodes `records` as one RecordBatch v2 with base offset 0 (the broker assigns offsets).
///
/// Header keys repeat in Kafka but the crate keeps them in a map; a repeated key keeps its
/// last value.
pub(crate) fn encode_batch(
    records: &[OutgoingRecord],
    identity: ProducerIdentity,
    compression: WireCompression,
) -> Result<Bytes> {
    let wire: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let delta = i as i32;
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: identity.producer_id,
                producer_epoch: identity.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i64::from(delta),
                // Pitfall 5: `offset - sequence` must stay constant or the crate starts a new
                // batch per record. For -1 (no idempotence) this still encodes base sequence -1.
                sequence: identity.base_sequence.wrapping_add(delta),
                timestamp: r.timestamp_ms,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                    .collect::<IndexMap<_, _>>(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &wire, &RecordEncodeOptions { version: 2, compression })
        .map_err(|e| ClientError::protocol("encoding a record batch", e))?;
    Ok(buf.freeze())
}

/// A record read from a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FetchedRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// An aborted transaction listed in a Fetch response (read_committed only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// The decoded part of one partition's fetch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct DecodedFetch {
    pub records: Vec<FetchedRecord>,
    /// Where the next fetch starts: after the last whole batch seen, never before the fetch
    /// offset.
    pub next_fetch_offset: i64,
    /// Whether the data ended in a partial batch.
    pub truncated: bool,
}

/// Decodes the `records` bytes of one partition of a Fetch response.
pub(crate) fn decode_fetched(
    data: &Bytes,
    fetch_offset: i64,
    read_committed: bool,
    aborted: &[AbortedTransaction],
    context: &dyn Fn() -> String,
) -> Result<DecodedFetch> {
    let mut out = DecodedFetch { next_fetch_offset: fetch_offset, ..DecodedFetch::default() };
    let mut aborted: VecDeque<AbortedTransaction> = {
        let mut list = aborted.to_vec();
        list.sort_by_key(|a| a.first_offset);
        list.into()
    };
    let mut aborted_producers: BTreeSet<i64> = BTreeSet::new();
    let mut position = 0usize;
    while data.len() - position >= LOG_OVERHEAD_BYTES {
        let rest = &data[position..];
        let batch_length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(ClientError::protocol(
                context(),
                format!("negative batch length {batch_length}"),
            ));
        };
        let total = LOG_OVERHEAD_BYTES + batch_length;
        if rest.len() < total {
            // The broker cut the last batch at the byte limit; fetch it whole next time.
            out.truncated = true;
            break;
        }
        let batch = data.slice(position..position + total);
        position += total;
        if rest.len() > 16 && rest[16] as i8 != 2 {
            return Err(ClientError::protocol(
                context(),
                format!("record batch magic {} (only v2 is supported)", rest[16] as i8),
            ));
        }
        let header = BatchHeader::parse(&batch).map_err(|e| ClientError::protocol(context(), e))?;
        // Offsets come from the network: bound them so no offset arithmetic below (or in
        // the crate's decoder) can overflow.
        if header.base_offset.0 < 0
            || header.last_offset_delta < 0
            || header.base_offset.0 > i64::MAX - i64::from(i32::MAX) - 1
        {
            return Err(ClientError::protocol(
                context(),
                format!(
                    "batch offsets out of range: base {} last delta {}",
                    header.base_offset.0, header.last_offset_delta
                ),
            ));
        }
        let next_offset = header.base_offset.0 + i64::from(header.last_offset_delta) + 1;
        if next_offset <= fetch_offset {
            out.next_fetch_offset = out.next_fetch_offset.max(next_offset);
            continue;
        }
        if read_committed && header.producer_id >= 0 {
            let last_offset = next_offset - 1;
            while aborted.front().is_some_and(|a| a.first_offset <= last_offset) {
                let a = aborted.pop_front().expect("front checked");
                aborted_producers.insert(a.producer_id);
            }
        }
        let mut body = batch.clone();
        let set = RecordBatchDecoder::decode(&mut body)
            .map_err(|e| ClientError::protocol(context(), e))?;
        out.next_fetch_offset = out.next_fetch_offset.max(next_offset);
        if header.is_control() {
            // Control records: key is (version int16, type int16); type 0 ends an aborted
            // transaction, so later batches of that producer are readable again.
            if read_committed {
                let is_abort = set
                    .records
                    .first()
                    .and_then(|r| r.key.as_ref())
                    .is_some_and(|k| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 0);
                if is_abort {
                    aborted_producers.remove(&header.producer_id);
                }
            }
            continue;
        }
        if read_committed
            && header.is_transactional()
            && aborted_producers.contains(&header.producer_id)
        {
            continue;
        }
        for record in set.records {
            if record.offset < fetch_offset {
                continue;
            }
            // Kafka: in a LogAppendTime batch every record carries the batch's max timestamp.
            let timestamp_ms =
                if header.is_log_append_time() { header.max_timestamp } else { record.timestamp };
            out.records.push(FetchedRecord {
                offset: record.offset,
                timestamp_ms,
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v))
                    .collect(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;

    fn record(i: i64) -> OutgoingRecord {
        OutgoingRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: vec![("h".into(), Some(Bytes::from_static(b"x"))), ("n".into(), None)],
            timestamp_ms: 1_700_000_000_000 + i,
        }
    }

    /// Rewrites a batch's base offset as a broker would (it lies before the CRC'd region).
    fn at_offset(batch: &Bytes, base: i64) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    fn no_context() -> String {
        "test".into()
    }

    #[test]
    fn encodes_one_batch_for_all_records_with_every_codec() {
        let records: Vec<_> = (0..5).map(record).collect();
        for codec in [
            WireCompression::None,
            WireCompression::Gzip,
            WireCompression::Snappy,
            WireCompression::Lz4,
            WireCompression::Zstd,
        ] {
            let bytes = encode_batch(&records, ProducerIdentity::NONE, codec).unwrap();
            let header = BatchHeader::parse(&bytes).unwrap();
            assert_eq!(header.total_bytes(), bytes.len(), "{codec:?}: exactly one batch");
            assert_eq!(header.record_count, 5);
            assert_eq!(header.base_sequence, -1);
            assert_eq!(header.producer_id, -1);
            let decoded = decode_fetched(&bytes, 0, false, &[], &no_context).unwrap();
            assert_eq!(decoded.records.len(), 5, "{codec:?}");
            assert_eq!(decoded.records[3].value, records[3].value);
            assert_eq!(decoded.records[3].timestamp_ms, records[3].timestamp_ms);
            assert_eq!(decoded.records[3].headers, records[3].headers);
            assert_eq!(decoded.next_fetch_offset, 5);
        }
    }

    #[test]
    fn idempotent_sequences_stay_in_one_batch() {
        let records: Vec<_> = (0..3).map(record).collect();
        let identity = ProducerIdentity { producer_id: 7, producer_epoch: 1, base_sequence: 40 };
        let bytes = encode_batch(&records, identity, WireCompression::None).unwrap();
        let header = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(header.total_bytes(), bytes.len());
        assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (7, 1, 40));
    }

    #[test]
    fn skips_records_below_the_fetch_offset_and_stops_at_a_partial_batch() {
        let first = at_offset(
            &encode_batch(
                &(0..4).map(record).collect::<Vec<_>>(),
                ProducerIdentity::NONE,
                WireCompression::Gzip,
            )
            .unwrap(),
            10,
        );
        let second = at_offset(
            &encode_batch(
                &(4..6).map(record).collect::<Vec<_>>(),
                ProducerIdentity::NONE,
                WireCompression::None,
            )
            .unwrap(),
            14,
        );
        let mut data = BytesMut::new();
        data.extend_from_slice(&first);
        data.extend_from_slice(&second);
        data.extend_from_slice(&second[..second.len() / 2]);
        let data = data.freeze();

        let decoded = decode_fetched(&data, 12, false, &[], &no_context).unwrap();
        let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![12, 13, 14, 15]);
        assert_eq!(decoded.next_fetch_offset, 16);
        assert!(decoded.truncated);

        // A fetch offset past the first batch skips it whole.
        let decoded = decode_fetched(&data, 14, false, &[], &no_context).unwrap();
        assert_eq!(decoded.records.first().map(|r| r.offset), Some(14));

        // Only a partial batch: nothing, and the position does not move.
        let partial = second.slice(0..30);
        let decoded = decode_fetched(&partial, 14, false, &[], &no_context).unwrap();
        assert!(decoded.records.is_empty() && decoded.truncated);
        assert_eq!(decoded.next_fetch_offset, 14);
    }

    #[test]
    fn corrupt_batches_are_protocol_errors_not_panics() {
        let good =
            encode_batch(&[record(0)], ProducerIdentity::NONE, WireCompression::None).unwrap();
        let mut bad = BytesMut::from(&good[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            decode_fetched(&bad.freeze(), 0, false, &[], &no_context),
            Err(ClientError::Protocol { .. })
        ));
        let mut negative = BytesMut::from(&good[..]);
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_fetched(&negative.freeze(), 0, false, &[], &no_context).is_err());
        let mut tiny = BytesMut::from(&good[..20]);
        tiny[8..12].copy_from_slice(&8i32.to_be_bytes());
        assert!(decode_fetched(&tiny.freeze(), 0, false, &[], &no_context).is_err());
        // Offsets that would overflow are refused before any arithmetic.
        let huge = at_offset(&good, i64::MAX - 1);
        assert!(matches!(
            decode_fetched(&huge, 0, false, &[], &no_context),
            Err(ClientError::Protocol { .. })
        ));
    }

    /// A transactional batch of `producer_id` at `base`, and a control marker after it.
    fn txn_batch(producer_id: i64, base: i64, control_type: Option<i16>) -> Bytes {
        let (key, value, control) = match control_type {
            Some(t) => {
                let mut k = BytesMut::new();
                k.extend_from_slice(&0i16.to_be_bytes());
                k.extend_from_slice(&t.to_be_bytes());
                (Some(k.freeze()), Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])), true)
            }
            None => (Some(Bytes::from_static(b"k")), Some(Bytes::from_static(b"v")), false),
        };
        let r = Record {
            transactional: true,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: base,
            sequence: 0,
            timestamp: 1,
            key,
            value,
            headers: IndexMap::new(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [&r],
            &RecordEncodeOptions { version: 2, compression: WireCompression::None },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_control_batches() {
        let mut data = BytesMut::new();
        data.extend_from_slice(&txn_batch(1, 0, None)); // aborted below
        data.extend_from_slice(&txn_batch(2, 1, None)); // committed
        data.extend_from_slice(&txn_batch(1, 2, Some(0))); // ABORT marker for producer 1
        data.extend_from_slice(&txn_batch(2, 3, Some(1))); // COMMIT marker for producer 2
        data.extend_from_slice(&txn_batch(1, 4, None)); // producer 1's next transaction
        let data = data.freeze();
        let aborted = [AbortedTransaction { producer_id: 1, first_offset: 0 }];

        let committed = decode_fetched(&data, 0, true, &aborted, &no_context).unwrap();
        let offsets: Vec<i64> = committed.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![1, 4]);
        assert_eq!(committed.next_fetch_offset, 5);

        let uncommitted = decode_fetched(&data, 0, false, &aborted, &no_context).unwrap();
        let offsets: Vec<i64> = uncommitted.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![0, 1, 4], "control batches are never returned");
    }
}
