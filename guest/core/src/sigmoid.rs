//! The table sigmoid of model format v1 (formats.md §2). The table is generated at build
//! time from `spec/sigmoid_q16.json`.

include!(concat!(env!("OUT_DIR"), "/sigmoid_table.rs"));

/// Q16 sigmoid by table lookup and linear interpolation.
pub fn sigmoid_q16(x: i32) -> i32 {
    if x <= -524_288 {
        return TABLE[0];
    }
    if x >= 524_288 {
        return TABLE[256];
    }
    let u = x + 524_288; // 0 < u < 2^20
    let i = (u >> 12) as usize;
    let f = i64::from(u & 4095);
    let (a, b) = (i64::from(TABLE[i]), i64::from(TABLE[i + 1]));
    (a + (((b - a) * f + 2048) >> 12)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_points_and_bounds() {
        assert_eq!(sigmoid_q16(0), TABLE[128]);
        assert_eq!(TABLE[128], 32768);
        assert_eq!(sigmoid_q16(-1_000_000), TABLE[0]);
        assert_eq!(sigmoid_q16(i32::MAX), TABLE[256]);
        assert_eq!(sigmoid_q16(4096), TABLE[129]);
        // halfway between T[128] and T[129]: f = 2048
        assert_eq!(sigmoid_q16(2048), TABLE[128] + ((TABLE[129] - TABLE[128]) * 2048 + 2048) / 4096);
    }
}
