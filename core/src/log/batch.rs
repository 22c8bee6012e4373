//! RecordBatch v2 headers: parse, validate, and restamp batches without decoding records.
//!
//! Inputs: bytes holding zero or more whole batches, as a producer sent them or as a segment
//! stores them. Outputs: [`BatchHeader`]s and validation errors that say what was wrong.
//! Invariants: a batch is valid when its length fits, its magic is 2 and its CRC32C (over
//! attributes .. end) matches; base offset and partition leader epoch lie before the CRC'd
//! region, so the log can restamp them without recomputing the CRC.
//!
//! Layout (Kafka's `DefaultRecordBatch`): baseOffset i64, batchLength i32,
//! partitionLeaderEpoch i32, magic i8, crc u32, attributes i16, lastOffsetDelta i32,
//! baseTimestamp i64, maxTimestamp i64, producerId i64, producerEpoch i16, baseSequence i32,
//! recordCount i32, then the records.

use crate::types::{LeaderEpoch, Offset};

/// Bytes before `batchLength` counts: baseOffset and batchLength itself.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// The fixed header of a v2 batch, up to and including recordCount.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Where the CRC'd region starts (the attributes field).
const CRC_START: usize = 21;
const MAGIC_POSITION: usize = 16;
const CRC_POSITION: usize = 17;
const PARTITION_LEADER_EPOCH_POSITION: usize = 12;
pub const CURRENT_MAGIC: i8 = 2;

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{available} bytes left, fewer than a batch header ({BATCH_HEADER_BYTES})")]
    Truncated { available: usize },
    #[error("batch length {batch_length} is out of range (header needs {}, {available} bytes left)", BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES)]
    BadLength { batch_length: i32, available: usize },
    #[error("magic {magic} is not supported (only RecordBatch v2)")]
    BadMagic { magic: i8 },
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record count {record_count} does not match last offset delta {last_offset_delta}")]
    BadRecordCount { record_count: i32, last_offset_delta: i32 },
}

/// Compression codec from the low three attribute bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    Unknown(u8),
}

/// The fixed header of one RecordBatch v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: Offset,
    pub batch_length: i32,
    pub partition_leader_epoch: LeaderEpoch,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}
fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Reads the header at the start of `buf` without checking the CRC. Fails when fewer than
    /// [`BATCH_HEADER_BYTES`] are present or the length field cannot hold a header.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated { available: buf.len() });
        }
        let batch_length = i32_at(buf, 8);
        let minimum = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
        if batch_length < minimum {
            return Err(BatchError::BadLength { batch_length, available: buf.len() });
        }
        let magic = buf[MAGIC_POSITION] as i8;
        if magic != CURRENT_MAGIC {
            return Err(BatchError::BadMagic { magic });
        }
        Ok(BatchHeader {
            base_offset: Offset(i64_at(buf, 0)),
            batch_length,
            partition_leader_epoch: LeaderEpoch(i32_at(buf, PARTITION_LEADER_EPOCH_POSITION)),
            magic,
            crc: u32::from_be_bytes(buf[CRC_POSITION..CRC_POSITION + 4].try_into().expect("4")),
            attributes: i16_at(buf, 21),
            last_offset_delta: i32_at(buf, 23),
            base_timestamp: i64_at(buf, 27),
            max_timestamp: i64_at(buf, 35),
            producer_id: i64_at(buf, 43),
            producer_epoch: i16_at(buf, 51),
            base_sequence: i32_at(buf, 53),
            record_count: i32_at(buf, 57),
        })
    }

    /// The batch's size on disk and on the wire, length prefix included.
    pub fn total_bytes(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length as usize
    }

    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> Offset {
        Offset(self.base_offset.0 + i64::from(self.last_offset_delta))
    }

    /// The offset after the batch.
    pub fn next_offset(&self) -> Offset {
        self.last_offset().plus(1)
    }

    pub fn compression(&self) -> Compression {
        match self.attributes & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other as u8),
        }
    }

    /// Whether the batch's timestamps are LogAppendTime (attribute bit 3).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Checks one whole batch at the start of `buf`: header, length within `buf`, CRC, and that
/// `recordCount` agrees with `lastOffsetDelta` (batches from producers are dense).
pub fn validate(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    if header.total_bytes() > buf.len() {
        return Err(BatchError::BadLength {
            batch_length: header.batch_length,
            available: buf.len(),
        });
    }
    let computed = crc32c::crc32c(&buf[CRC_START..header.total_bytes()]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { stored: header.crc, computed });
    }
    // In i64: a producer can send lastOffsetDelta = i32::MAX with a CRC that matches, and
    // `delta + 1` in i32 overflowed (a panic with overflow checks on, which took the broker
    // task and with it the whole broker down).
    let count_from_offsets = i64::from(header.last_offset_delta) + 1;
    if header.last_offset_delta < 0 || i64::from(header.record_count) != count_from_offsets {
        return Err(BatchError::BadRecordCount {
            record_count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Writes a new base offset and partition leader epoch into the batch at the start of `buf`.
/// Both lie before the CRC'd region, so the CRC stays valid.
pub fn restamp(buf: &mut [u8], base_offset: Offset, leader_epoch: LeaderEpoch) {
    assert!(buf.len() >= BATCH_HEADER_BYTES, "restamp needs a whole header");
    buf[0..8].copy_from_slice(&base_offset.0.to_be_bytes());
    buf[PARTITION_LEADER_EPOCH_POSITION..PARTITION_LEADER_EPOCH_POSITION + 4]
        .copy_from_slice(&leader_epoch.0.to_be_bytes());
}

/// Marks every batch in `buf` as LogAppendTime with `now_ms` as its largest timestamp (the
/// topic's `message.timestamp.type`), recomputing each CRC. Fails like [`validate_all`].
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) -> Result<(), (usize, BatchError)> {
    let batches = validate_all(buf)?;
    for (position, header) in batches {
        let batch = &mut buf[position..position + header.total_bytes()];
        let attributes = (header.attributes | 0x08).to_be_bytes();
        batch[21..23].copy_from_slice(&attributes);
        batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[CRC_POSITION..CRC_POSITION + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

/// Walks the batches of a buffer that must hold only whole, valid batches (a producer's
/// records or a fetch response): yields each batch's position and header, or the first error.
pub fn validate_all(buf: &[u8]) -> Result<Vec<(usize, BatchHeader)>, (usize, BatchError)> {
    let mut batches = Vec::new();
    let mut position = 0;
    while position < buf.len() {
        let header = validate(&buf[position..]).map_err(|e| (position, e))?;
        batches.push((position, header));
        position += header.total_bytes();
    }
    Ok(batches)
}

/// Encodes one uncompressed batch of `(key, value)` records, all stamped `timestamp_ms`,
/// with base offset 0 (the log assigns offsets on append).
pub fn encode(
    records: &[(Option<bytes::Bytes>, Option<bytes::Bytes>)],
    timestamp_ms: i64,
) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression as WireCompression, Record, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    assert!(!records.is_empty(), "a batch holds at least one record");
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch whenever offset - sequence changes.
            sequence: -1 + i as i32,
            timestamp: timestamp_ms,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: WireCompression::None };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .expect("encoding into memory cannot fail");
    buf.freeze()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression as WireCompression, Record, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    /// One batch of `count` records `value-<i>` with timestamps `timestamp_ms + i`.
    pub(crate) fn batch(count: usize, timestamp_ms: i64) -> Bytes {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1 + i as i32,
                timestamp: timestamp_ms + i as i64,
                key: None,
                value: Some(Bytes::from(format!("value-{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: WireCompression::None };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode");
        buf.freeze()
    }

    #[test]
    fn a_batch_from_the_encoder_validates_and_restamps_without_a_new_crc() {
        let bytes = batch(3, 1_000);
        let header = validate(&bytes).expect("valid");
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.max_timestamp, 1_002);
        assert_eq!(header.total_bytes(), bytes.len());
        let mut copy = bytes.to_vec();
        restamp(&mut copy, Offset(42), LeaderEpoch(7));
        let restamped = validate(&copy).expect("still valid");
        assert_eq!(restamped.base_offset, Offset(42));
        assert_eq!(restamped.last_offset(), Offset(44));
        assert_eq!(restamped.partition_leader_epoch, LeaderEpoch(7));
    }

    #[test]
    fn a_flipped_byte_in_the_records_is_a_crc_mismatch() {
        let mut bytes = batch(2, 0).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(validate(&bytes), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn short_or_lying_lengths_are_errors_not_panics() {
        let bytes = batch(1, 0);
        assert!(matches!(validate(&bytes[..30]), Err(BatchError::Truncated { available: 30 })));
        assert!(matches!(validate(&bytes[..bytes.len() - 1]), Err(BatchError::BadLength { .. })));
        let mut lying = bytes.to_vec();
        lying[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(validate(&lying), Err(BatchError::BadLength { .. })));
        lying[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(validate(&lying), Err(BatchError::BadLength { .. })));
        let mut magic = bytes.to_vec();
        magic[MAGIC_POSITION] = 1;
        assert!(matches!(validate(&magic), Err(BatchError::BadMagic { magic: 1 })));
    }

    #[test]
    fn a_last_offset_delta_of_i32_max_is_a_bad_record_count_not_an_overflow() {
        let mut lying = batch(1, 0).to_vec();
        lying[23..27].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&lying[CRC_START..]);
        lying[CRC_POSITION..CRC_POSITION + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            validate(&lying),
            Err(BatchError::BadRecordCount { record_count: 1, last_offset_delta: i32::MAX })
        );
        lying[57..61].copy_from_slice(&i32::MIN.to_be_bytes());
        let crc = crc32c::crc32c(&lying[CRC_START..]);
        lying[CRC_POSITION..CRC_POSITION + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(validate(&lying), Err(BatchError::BadRecordCount { .. })));
    }

    #[test]
    fn validate_all_names_the_position_of_the_first_bad_batch() {
        let mut two = batch(1, 0).to_vec();
        let first_len = two.len();
        two.extend_from_slice(&batch(2, 0));
        assert_eq!(validate_all(&two).expect("valid").len(), 2);
        two.truncate(first_len + 20);
        let (position, error) = validate_all(&two).expect_err("truncated");
        assert_eq!(position, first_len);
        assert!(matches!(error, BatchError::Truncated { available: 20 }));
    }
}
