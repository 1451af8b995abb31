//! A NOR flash that is a file on the host, reached through semihosting: what the firmware
//! writes to it is on the host's disk at once, so it survives the end of the emulation (and a
//! qemu killed in the middle of a write, like a power cut on real hardware).

use core::ffi::CStr;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use procession_flash_table::{PAGE, WORD};
use semihosting::fs::File;
use semihosting::io::{Read, Seek, SeekFrom, Write};

/// Why the host flash failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum HostFlashError {
    /// The host refused a file operation (no semihosting, no such directory, disk full, ...).
    Host,
    /// An access outside the flash, or not aligned to its word or page.
    OutOfBounds,
}

impl NorFlashError for HostFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::Host => NorFlashErrorKind::Other,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
        }
    }
}

impl From<semihosting::io::Error> for HostFlashError {
    fn from(_: semihosting::io::Error) -> Self {
        Self::Host
    }
}

/// A flash of `SIZE` bytes kept in a host file: words of [`WORD`] bytes, pages of [`PAGE`]
/// bytes, NOR semantics (a write clears bits, an erase sets a page to `0xFF`), the same
/// geometry as the `RamFlash` of the host tests.
pub struct HostFlash<const SIZE: usize> {
    file: File,
}

/// Bytes moved per host call.
const CHUNK: usize = 64;

impl<const SIZE: usize> HostFlash<SIZE> {
    /// Opens the flash file at `path` (relative to qemu's working directory). A missing file,
    /// or one of another size, is replaced by an erased flash.
    pub fn open(path: &CStr) -> Result<Self, HostFlashError> {
        if let Ok(file) = File::options().read(true).write(true).open(path)
            && file.metadata().is_ok_and(|m| m.len() == SIZE as u64)
        {
            return Ok(Self { file });
        }
        let file = File::options().read(true).write(true).create(true).truncate(true).open(path)?;
        let mut flash = Self { file };
        flash.fill(0, SIZE)?;
        Ok(flash)
    }

    /// Sets `len` bytes from `start` to `0xFF`.
    fn fill(&mut self, start: usize, len: usize) -> Result<(), HostFlashError> {
        self.file.seek(SeekFrom::Start(start as u64))?;
        let erased = [0xFF; CHUNK];
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            self.file.write_all(&erased[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn check(offset: u32, len: usize, align: usize) -> Result<usize, HostFlashError> {
        let start = offset as usize;
        let fits = start.checked_add(len).is_some_and(|end| end <= SIZE);
        if !fits || !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(HostFlashError::OutOfBounds);
        }
        Ok(start)
    }
}

impl<const SIZE: usize> ErrorType for HostFlash<SIZE> {
    type Error = HostFlashError;
}

impl<const SIZE: usize> ReadNorFlash for HostFlash<SIZE> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), HostFlashError> {
        let start = Self::check(offset, bytes.len(), 1)?;
        self.file.seek(SeekFrom::Start(start as u64))?;
        self.file.read_exact(bytes)?;
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl<const SIZE: usize> NorFlash for HostFlash<SIZE> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), HostFlashError> {
        let len = to.checked_sub(from).ok_or(HostFlashError::OutOfBounds)? as usize;
        let start = Self::check(from, len, PAGE)?;
        self.fill(start, len)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), HostFlashError> {
        let start = Self::check(offset, bytes.len(), WORD)?;
        for (index, chunk) in bytes.chunks(CHUNK).enumerate() {
            let at = (start + index * CHUNK) as u64;
            let mut cells = [0u8; CHUNK];
            let cells = &mut cells[..chunk.len()];
            self.file.seek(SeekFrom::Start(at))?;
            self.file.read_exact(cells)?;
            for (cell, new) in cells.iter_mut().zip(chunk) {
                *cell &= new; // NOR: a write only clears bits
            }
            self.file.seek(SeekFrom::Start(at))?;
            self.file.write_all(cells)?;
        }
        Ok(())
    }
}

/// Writing a word again may clear more of its bits (what removing a key needs).
impl<const SIZE: usize> MultiwriteNorFlash for HostFlash<SIZE> {}
