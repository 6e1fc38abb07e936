//! Backward launches of the fused correlation on a CubeCL device: patch statistics of both
//! inputs, the patch gradients of each input taken through its normalisation
//! (`[B, C, H, W, N]`), then each folded back onto its map.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::forward::{dims4, empty_like, patch_stats};
use super::kernel::{fold_kernel, patch_grad_kernel};
use crate::model::xcorr::direct::XcorrGeometry;

/// Gradient w.r.t. one input (`own`, X when `for_y` is false): `[B, C, H, W]`.
fn input_grad(
    (own, own_stats): (&CubeTensor, &CubeTensor),
    (other, other_stats): (&CubeTensor, &CubeTensor),
    grad: &CubeTensor,
    geo: &XcorrGeometry,
    for_y: bool,
) -> CubeTensor {
    let [b, c, h, w] = dims4(own);
    let n = geo.patch * geo.patch;
    let total = b * c * h * w;
    let dp = empty_like(own, Shape::new([b, c, h, w, n])); // [B, C, H, W, N]
    let out = empty_like(own, Shape::new([b, c, h, w])); // [B, C, H, W]
    if total == 0 {
        return out;
    }
    let client = own.client.clone();
    let dtype = dtype_to_storage_type(own.dtype);
    let cube_dim = CubeDim::new(&client, total);
    let cube_count = calculate_cube_count_elemwise(&client, total, cube_dim);
    patch_grad_kernel::launch(
        &client,
        cube_count.clone(),
        cube_dim,
        own.clone().into_tensor_arg(),
        other.clone().into_tensor_arg(),
        own_stats.clone().into_tensor_arg(),
        other_stats.clone().into_tensor_arg(),
        grad.clone().into_tensor_arg(),
        dp.clone().into_tensor_arg(),
        geo.patch,
        geo.band,
        for_y,
        dtype,
    );
    fold_kernel::launch(
        &client,
        cube_count,
        cube_dim,
        dp.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        geo.patch,
        dtype,
    );
    out
}

/// Gradients of the layer: x, y `[B, C, H, W]`, `grad` `[B, C*D*W, H, W]` -> `(dL/dx, dL/dy)`.
pub(super) fn xcorr_backward_cube(
    x: CubeTensor,
    y: CubeTensor,
    grad: CubeTensor,
    geo: &XcorrGeometry,
) -> (CubeTensor, CubeTensor) {
    let x = into_contiguous(x); // [B, C, H, W]
    let y = into_contiguous(y); // [B, C, H, W]
    let grad = into_contiguous(grad); // [B, C*D*W, H, W]
    let x_stats = patch_stats(&x, geo); // [3, B, C, H, W]
    let y_stats = patch_stats(&y, geo); // [3, B, C, H, W]
    let dx = input_grad((&x, &x_stats), (&y, &y_stats), &grad, geo, false);
    let dy = input_grad((&y, &y_stats), (&x, &x_stats), &grad, geo, true);
    (dx, dy)
}
