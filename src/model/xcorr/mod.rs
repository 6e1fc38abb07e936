//! The normalized correlation layer (docs/network.md) in its implementations, which must
//! agree (tests check each against the others and the golden vectors):
//! - [`direct`]: the definition in f64 on slices, the oracle (slow);
//! - `reference`: Burn tensor ops, differentiable, any backend;
//! - [`cpu`]: the fast CPU forward on host slices, and [`cpu_backward`] its gradients;
//! - [`op`]: the layer as a Burn custom operation ([`XcorrOps`]) with forward and backward,
//!   implemented for flex by the host kernels (`flex_ops.rs`), for CubeCL (wgpu) by fused kernels
//!   ([`cube`]), and for autodiff by a recorded backward step (`autodiff`).
//!
//! [`xcorr`] is the entry point the network uses; it picks the fastest correct implementation
//! for the tensors' device: the custom op on flex and CubeCL devices (inference and training),
//! the tensor-op reference anywhere else.

mod autodiff;
pub mod band_forward;
pub mod band_lanes;
pub mod cpu;
pub mod cpu_backward;
pub mod cube;
pub mod direct;
mod flex_ops;
pub mod fused;
pub mod fused_backward;
pub mod head_op;
pub mod op;
mod pages;
mod patch_grads;
pub mod reference;

use std::cell::Cell;

use burn::backend::DispatchDevice;
use burn::tensor::{Device, Tensor};

pub use crate::model::simd::Isa;
pub use cpu::{xcorr_cpu, xcorr_cpu_with};
pub use cpu_backward::{xcorr_cpu_backward, xcorr_cpu_backward_with};
pub use direct::{XcorrGeometry, xcorr_direct};
pub use op::{XcorrOps, op_supported, xcorr_op, xcorr_op_backward};
pub use reference::xcorr_reference;

/// Which implementation [`xcorr`] uses for a given tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XcorrPath {
    /// Tensor ops (devices the custom op does not cover, or forced by [`with_reference_path`]).
    Reference,
    /// The custom op on the flex backend: host kernels, forward and backward.
    Cpu,
    /// The custom op on a CubeCL backend (wgpu): fused kernels, forward and backward.
    Gpu,
}

thread_local! {
    static FORCE_REFERENCE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with [`xcorr`] forced onto the tensor-op reference on this thread (for tests and
/// benchmarks that compare the op against the reference through a whole network).
#[doc(hidden)]
pub fn with_reference_path<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCE_REFERENCE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FORCE_REFERENCE.with(|c| c.replace(true)));
    f()
}

/// The implementation [`xcorr`] picks for tensors on `device` (autodiff or not).
pub fn path_for(device: &Device) -> XcorrPath {
    if FORCE_REFERENCE.with(Cell::get) {
        return XcorrPath::Reference;
    }
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Flex(_) => XcorrPath::Cpu,
        DispatchDevice::Cube(_) => XcorrPath::Gpu,
        #[allow(unreachable_patterns)]
        _ => XcorrPath::Reference,
    }
}

/// The layer: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`; differentiable on autodiff devices.
pub fn xcorr(x: Tensor<4>, y: Tensor<4>, geo: &XcorrGeometry) -> Tensor<4> {
    if path_for(&x.device()) != XcorrPath::Reference {
        // `xcorr_op` checks the device and the arguments again and declines (None) rather
        // than reach a backend the op is not implemented for.
        if let Some(out) = xcorr_op(x.clone(), y.clone(), geo) {
            return out; // [B, C*D*W, H, W]
        }
    }
    xcorr_reference(x, y, geo)
}
