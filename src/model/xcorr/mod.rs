//! The normalized correlation layer (DESIGN.md section 1) in its implementations, which must
//! agree (tests check each against the others and the golden vectors):
//! - [`direct`]: the definition in f64 on slices, the oracle (slow);
//! - [`reference`]: Burn tensor ops, differentiable, any backend;
//! - [`cpu`]: the fast CPU path on host slices (inference on the flex backend).
//!
//! [`xcorr`] is the entry point the network uses; it picks the fastest correct implementation
//! for the tensors' device.

pub mod cpu;
pub mod direct;
pub mod reference;

use burn::tensor::{Device, Tensor, TensorData};

pub use cpu::xcorr_cpu;
pub use direct::{XcorrGeometry, xcorr_direct};
pub use reference::xcorr_reference;

/// Which implementation [`xcorr`] uses for a given tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XcorrPath {
    /// Tensor ops (autodiff, GPU).
    Reference,
    /// Host kernel (CPU inference).
    Cpu,
}

/// The implementation [`xcorr`] picks for tensors on `device`.
pub fn path_for(device: &Device) -> XcorrPath {
    if !device.is_autodiff() && *device == Device::flex() {
        XcorrPath::Cpu
    } else {
        XcorrPath::Reference
    }
}

/// The layer: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`.
pub fn xcorr(x: Tensor<4>, y: Tensor<4>, geo: &XcorrGeometry) -> Tensor<4> {
    let device = x.device();
    if path_for(&device) == XcorrPath::Cpu {
        let dims = x.dims();
        // On the CPU backend the read-back is a copy in memory; fall back to tensor ops if the
        // backend cannot hand the data over for any reason.
        if let (Ok(xv), Ok(yv)) = (
            x.clone().try_into_vec_as::<f32>(),
            y.clone().try_into_vec_as::<f32>(),
        ) {
            let [b, c, h, w] = dims;
            let out = xcorr_cpu(&xv, &yv, dims, geo);
            return Tensor::from_data(TensorData::new(out, [b, c * geo.band * w, h, w]), &device);
        }
    }
    xcorr_reference(x, y, geo)
}
