//! The network's 2x2, stride-2 max-pool as a Burn custom operation with a forward and a
//! backward pass, so that training on the CPU runs the host kernels of [`host`] instead of
//! flex's general pooling (a 3-D window loop with an index tensor and a scatter-add back):
//! - `Flex`: [`host`];
//! - `Cube` (wgpu): burn's own max-pool and its gradient;
//! - `Autodiff<B>`: `autodiff`, a recorded backward step calling `B::max_pool2_backward`
//!   on the checkpointed input (no index tensor is kept).
//!
//! [`max_pool2`] is the entry point the network uses: the op on flex and CubeCL devices,
//! burn's `max_pool2d` anywhere else or when [`crate::model::xcorr::with_reference_path`]
//! forces the reference (tests compare the two).

mod autodiff;
pub mod host;
mod ops;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use super::xcorr::{XcorrPath, op_supported, path_for};

/// The 2x2 max-pool as a backend operation.
#[backend_extension(Cube, Flex, Autodiff)]
pub trait PoolOps: Backend {
    /// x `[B, C, H, W]` -> `[B, C, H/2, W/2]`: the maximum of each 2x2 window.
    fn max_pool2_forward(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// x as above, `grad` = dL/d(out) `[B, C, H/2, W/2]` -> dL/dx `[B, C, H, W]` (each
    /// window's gradient on its first maximum). Not itself differentiable.
    fn max_pool2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The pool: x `[B, C, H, W]` -> `[B, C, H/2, W/2]` (floor); differentiable on autodiff devices.
pub fn max_pool2(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    if op_supported(&device) && path_for(&device) != XcorrPath::Reference {
        let out = burn::backend::Dispatch::max_pool2_forward(x.into_dispatch());
        return Tensor::from_dispatch(out); // [B, C, H/2, W/2]
    }
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}
