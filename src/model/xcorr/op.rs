//! The correlation layer as a Burn custom operation with a forward and a backward pass.
//!
//! [`XcorrOps`] is a backend extension trait (burn's `#[backend_extension]`): the macro
//! generates its implementation for burn's `Dispatch` backend, which routes a call to the
//! implementation of the backend the tensors live on:
//! - `Flex` (CPU): the host kernels of [`super::cpu`] (forward) and [`super::cpu_backward`];
//! - `Cube` (wgpu and the other CubeCL runtimes): the fused kernels of [`super::cube`];
//! - `Autodiff<B>`: `super::autodiff`, which records a backward step calling
//!   `B::xcorr_backward`, so training on either backend goes through the op as well.
//!
//! On any other backend a call would panic inside the generated code, so the tensor-level
//! entry points here ([`xcorr_op`], [`xcorr_op_backward`]) return `None` for devices the op
//! does not cover ([`op_supported`]) and the caller falls back to the tensor-op reference.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice, backend_extension};
use burn::tensor::{Device, Tensor};

use super::direct::XcorrGeometry;

/// The normalized correlation as a backend operation (docs/network.md).
///
/// Both methods take contiguous or strided float tensors of any float dtype the backend
/// supports; the result has the dtype of `x`. `geo.patch` and `geo.band` must be odd.
#[backend_extension(Cube, Flex, Autodiff)]
pub trait XcorrOps: Backend {
    /// The layer: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`, depth index `c*D*W + dy*W + x'`.
    fn xcorr_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self>;

    /// Gradients of the layer: x, y `[B, C, H, W]`, `grad` = dL/d(out) `[B, C*D*W, H, W]` ->
    /// `(dL/dx, dL/dy)`, each `[B, C, H, W]`. (Not itself differentiable: second derivatives
    /// through the op are not supported.)
    fn xcorr_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether [`XcorrOps`] has an implementation for tensors on `device` (flex or a CubeCL
/// device, with or without autodiff).
pub fn op_supported(device: &Device) -> bool {
    let inner = device.clone().inner();
    matches!(
        inner.as_dispatch(),
        DispatchDevice::Flex(_) | DispatchDevice::Cube(_)
    )
}

/// Shapes the op accepts: x and y `[B, C, H, W]` alike, odd patch and band, patch of 2+ values.
fn shapes_ok(x: &Tensor<4>, y: &Tensor<4>, geo: &XcorrGeometry) -> bool {
    x.dims() == y.dims() && geo.patch % 2 == 1 && geo.band % 2 == 1 && geo.patch > 1
}

/// The layer through the custom op: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`; differentiable
/// when the tensors are on an autodiff device. `None` when the op does not cover the device
/// or the arguments (the caller then uses [`super::xcorr_reference`]).
pub fn xcorr_op(x: Tensor<4>, y: Tensor<4>, geo: &XcorrGeometry) -> Option<Tensor<4>> {
    if !op_supported(&x.device()) || x.device() != y.device() || !shapes_ok(&x, &y, geo) {
        return None;
    }
    let out = burn::backend::Dispatch::xcorr_forward(x.into_dispatch(), y.into_dispatch(), *geo);
    Some(Tensor::from_dispatch(out)) // [B, C*D*W, H, W]
}

/// The op's backward pass on its own: x, y `[B, C, H, W]`, `grad` `[B, C*D*W, H, W]` ->
/// `(dL/dx, dL/dy)` `[B, C, H, W]` each. For tests and benchmarks; `None` when the op does not
/// cover the device or the arguments.
pub fn xcorr_op_backward(
    x: Tensor<4>,
    y: Tensor<4>,
    grad: Tensor<4>,
    geo: &XcorrGeometry,
) -> Option<(Tensor<4>, Tensor<4>)> {
    let [b, c, h, w] = x.dims();
    let same_device = x.device() == y.device() && x.device() == grad.device();
    if !op_supported(&x.device())
        || !same_device
        || !shapes_ok(&x, &y, geo)
        || grad.dims() != [b, c * geo.band * w, h, w]
    {
        return None;
    }
    let (dx, dy) = burn::backend::Dispatch::xcorr_backward(
        x.into_dispatch(),
        y.into_dispatch(),
        grad.into_dispatch(),
        *geo,
    );
    Some((Tensor::from_dispatch(dx), Tensor::from_dispatch(dy))) // [B, C, H, W] each
}
