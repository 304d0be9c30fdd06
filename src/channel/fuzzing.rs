//! Entry points for the fuzz targets in `fuzz/`, compiled only under `--cfg fuzzing`
//! (which cargo-fuzz sets): group control is otherwise produced and consumed only inside
//! the crate, so without these a fuzzer could not reach the group's control parser with
//! inputs of its choosing.

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::Channel;
use crate::Result;

impl Channel {
    /// Encrypts arbitrary bytes as group control, as [`crate::Group`] does for the control it
    /// sends, so that a fuzzer can feed its own control plaintexts to `Group::receive`.
    ///
    /// # Errors
    /// As the group's own sends: an unestablished channel, or a plaintext too long.
    #[doc(hidden)]
    pub fn fuzzing_encrypt_group_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        control: &[u8],
    ) -> Result<Vec<u8>> {
        self.encrypt_group_control(rng, control)
    }

    /// Decrypts group control, as the group does, so that the fuzz seeds can hold genuine
    /// control plaintexts.
    ///
    /// # Errors
    /// As [`Channel::decrypt`], and `NotGroupControl` for application data.
    #[doc(hidden)]
    pub fn fuzzing_decrypt_group_control(&mut self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.decrypt_group_control(message)
    }
}
