//! Random numbers for jitter: the [`Rng`] trait and the default [`XorShift64`].

/// A source of random numbers for jitter.
pub trait Rng {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// A small, fast, seedable pseudo-random generator (Marsaglia's xorshift64): the default
/// source of jitter. Not for cryptography.
///
/// Give each device or process its own seed (a serial number, a MAC address), or they jitter in
/// step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator seeded with `seed` (a zero seed is replaced by a fixed non-zero one, since
    /// xorshift would stay at zero).
    pub const fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }
}

impl Default for XorShift64 {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Rng for XorShift64 {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}
