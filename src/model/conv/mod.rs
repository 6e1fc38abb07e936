//! The network's convolutions (stride 1, no padding, with bias) as a Burn custom operation
//! with a forward and a backward pass, so that training on the CPU runs the host kernels of
//! [`host`] instead of flex's im2col + GEMM:
//! - `Flex`: [`host`] (direct convolution; input, weight and bias gradients);
//! - `Cube` (wgpu): burn's own convolution and its gradient ops (nothing to gain by hand);
//! - `Autodiff<B>`: `autodiff`, a recorded backward step calling `B::conv_backward`.
//!
//! [`conv_valid`] is the entry point the network uses: the op on flex and CubeCL devices,
//! burn's `conv2d` anywhere else or when [`crate::model::xcorr::with_reference_path`] forces
//! the reference (tests compare the two).

mod autodiff;
pub mod host;
mod ops;
mod weight_direct;
mod weight_grad;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn::tensor::Tensor;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use super::xcorr::{XcorrPath, op_supported, path_for};

/// The valid convolution as a backend operation.
#[backend_extension(Cube, Flex, Autodiff)]
pub trait ConvOps: Backend {
    /// x `[B, Cin, H, W]`, weight `[Cout, Cin, K, K]`, bias `[Cout]` -> `[B, Cout, H-K+1, W-K+1]`.
    fn conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Gradients: x, weight as above, `grad` = dL/d(out) -> (dL/dx when `need_dx`,
    /// dL/dweight, dL/dbias). Not itself differentiable.
    fn conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

/// The convolution: x `[B, Cin, H, W]`, weight `[Cout, Cin, K, K]`, bias `[Cout]` ->
/// `[B, Cout, H-K+1, W-K+1]`; differentiable on autodiff devices.
pub fn conv_valid(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let device = x.device();
    let [_, cin, h, w] = x.dims();
    let [cout, wcin, k, k2] = weight.dims();
    let fits = cin == wcin && k == k2 && k >= 1 && h >= k && w >= k && bias.dims() == [cout];
    if fits
        && op_supported(&device)
        && path_for(&device) != XcorrPath::Reference
        && weight.device() == device
        && bias.device() == device
    {
        let out = burn::backend::Dispatch::conv_forward(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
        );
        return Tensor::from_dispatch(out); // [B, Cout, Ho, Wo]
    }
    conv2d(
        x,
        weight,
        Some(bias),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    )
}
