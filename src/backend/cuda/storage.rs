//! The device storage of a `Tensor`: an f32 buffer in GPU memory, allocated on the backend's
//! stream from the driver's stream-ordered pool (see `device.rs`), freed when dropped.

use cudarc::driver::CudaSlice;

pub struct DeviceBuf(pub(crate) CudaSlice<f32>);

impl DeviceBuf {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn slice(&self) -> &CudaSlice<f32> {
        &self.0
    }

    pub fn slice_mut(&mut self) -> &mut CudaSlice<f32> {
        &mut self.0
    }

    /// Copies the buffer to the host (synchronizes its stream).
    pub fn to_vec(&self) -> Result<Vec<f32>, cudarc::driver::DriverError> {
        let stream = self.0.stream().clone();
        let v = stream.clone_dtoh(&self.0)?;
        stream.synchronize()?;
        Ok(v)
    }
}

/// A device-to-device copy on the buffer's stream (cudarc panics only if the copy itself fails).
impl Clone for DeviceBuf {
    fn clone(&self) -> Self {
        DeviceBuf(self.0.clone())
    }
}

impl std::fmt::Debug for DeviceBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBuf({} f32)", self.0.len())
    }
}

/// Equal contents (downloads both; meant for tests, not hot paths). A failed download is unequal.
impl PartialEq for DeviceBuf {
    fn eq(&self, other: &Self) -> bool {
        match (self.to_vec(), other.to_vec()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}
