//! UNSUPPORTED_VERSION answers for Produce v0-2 and Fetch v0-3.
//!
//! These versions are advertised (librdkafka's feature detection needs them, see
//! `versions.rs`) but not served, and the codec cannot encode them. Kafka 4 answers them
//! with UNSUPPORTED_VERSION for every partition asked about; so do we, with the few lines of
//! the old formats written by hand.
//!
//! Inputs: the request body after the header. Outputs: a response body (without the
//! response header), or `None` for acks=0 produce requests. Invariants: reads are bounds
//! checked and counts are capped by the bytes left, so a lying length is an error.

use bytes::{Buf, BufMut, Bytes, BytesMut};

const UNSUPPORTED_VERSION: i16 = 35;

/// A bounds-checked reader over a legacy request body.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), String> {
        if self.0.remaining() < n {
            return Err(format!("needs {n} more bytes, {} left", self.0.remaining()));
        }
        Ok(())
    }
    fn i16(&mut self) -> Result<i16, String> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn string(&mut self) -> Result<Bytes, String> {
        let len = self.i16()?;
        if len < 0 {
            return Err(format!("negative string length {len}"));
        }
        self.need(len as usize)?;
        Ok(self.0.split_to(len as usize))
    }
    fn skip_bytes(&mut self) -> Result<(), String> {
        let len = self.i32()?;
        if len >= 0 {
            self.need(len as usize)?;
            self.0.advance(len as usize);
        }
        Ok(())
    }
    /// An array count, capped by the bytes left (each element takes at least `min_bytes`).
    fn count(&mut self, min_bytes: usize) -> Result<usize, String> {
        let count = self.i32()?;
        if count < 0 {
            return Ok(0);
        }
        let count = count as usize;
        if count.saturating_mul(min_bytes) > self.0.remaining() {
            return Err(format!("array of {count} cannot fit in {} bytes", self.0.remaining()));
        }
        Ok(count)
    }
}

fn put_string(out: &mut BytesMut, s: &[u8]) {
    out.put_i16(s.len() as i16);
    out.put_slice(s);
}

/// The body answering a Produce v0-2 request, or `None` when acks=0 wants no answer.
pub fn produce_unsupported(version: i16, body: Bytes) -> Result<Option<Bytes>, String> {
    assert!((0..=2).contains(&version), "legacy produce is v0-2");
    let mut r = Reader(body);
    let acks = r.i16()?;
    let _timeout_ms = r.i32()?;
    let mut out = BytesMut::new();
    let topics = r.count(6)?;
    out.put_i32(topics as i32);
    for _ in 0..topics {
        let name = r.string()?;
        put_string(&mut out, &name);
        let partitions = r.count(8)?;
        out.put_i32(partitions as i32);
        for _ in 0..partitions {
            let index = r.i32()?;
            r.skip_bytes()?;
            out.put_i32(index);
            out.put_i16(UNSUPPORTED_VERSION);
            out.put_i64(-1); // base_offset
            if version >= 2 {
                out.put_i64(-1); // log_append_time
            }
        }
    }
    if version >= 1 {
        out.put_i32(0); // throttle_time_ms
    }
    Ok((acks != 0).then(|| out.freeze()))
}

/// The body answering a Fetch v0-3 request.
pub fn fetch_unsupported(version: i16, body: Bytes) -> Result<Bytes, String> {
    assert!((0..=3).contains(&version), "legacy fetch is v0-3");
    let mut r = Reader(body);
    let _replica_id = r.i32()?;
    let _max_wait_ms = r.i32()?;
    let _min_bytes = r.i32()?;
    if version >= 3 {
        let _max_bytes = r.i32()?;
    }
    let mut out = BytesMut::new();
    if version >= 1 {
        out.put_i32(0); // throttle_time_ms
    }
    let topics = r.count(6)?;
    out.put_i32(topics as i32);
    for _ in 0..topics {
        let name = r.string()?;
        put_string(&mut out, &name);
        let partitions = r.count(16)?;
        out.put_i32(partitions as i32);
        for _ in 0..partitions {
            let index = r.i32()?;
            let _fetch_offset = r.i64()?;
            let _partition_max_bytes = r.i32()?;
            out.put_i32(index);
            out.put_i16(UNSUPPORTED_VERSION);
            out.put_i64(-1); // high_watermark
            out.put_i32(-1); // records: null
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce_v2(acks: i16) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(acks);
        b.put_i32(1000);
        b.put_i32(1);
        put_string(&mut b, b"t");
        b.put_i32(2);
        for p in [0, 3] {
            b.put_i32(p);
            b.put_i32(3);
            b.put_slice(b"abc");
        }
        b.freeze()
    }

    #[test]
    fn produce_v2_gets_unsupported_version_for_each_partition() {
        let body = produce_unsupported(2, produce_v2(1)).unwrap().unwrap();
        let mut r = Reader(body);
        assert_eq!(r.i32().unwrap(), 1);
        assert_eq!(&r.string().unwrap()[..], b"t");
        assert_eq!(r.i32().unwrap(), 2);
        for p in [0, 3] {
            assert_eq!(r.i32().unwrap(), p);
            assert_eq!(r.i16().unwrap(), UNSUPPORTED_VERSION);
            assert_eq!(r.i64().unwrap(), -1);
            assert_eq!(r.i64().unwrap(), -1);
        }
        assert_eq!(r.i32().unwrap(), 0);
        assert_eq!(r.0.remaining(), 0);
        assert_eq!(produce_unsupported(2, produce_v2(0)).unwrap(), None);
    }

    #[test]
    fn lying_counts_and_truncated_bodies_are_errors() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(0);
        b.put_i32(i32::MAX);
        assert!(produce_unsupported(0, b.freeze()).is_err());
        let truncated = produce_v2(1).slice(..15);
        assert!(produce_unsupported(1, truncated).is_err());
        assert!(fetch_unsupported(3, Bytes::from_static(&[0, 0])).is_err());
    }
}
