//! Forward launch of the fused correlation on a CubeCL device: one small kernel for the patch
//! statistics of each input, then one launch for the whole output.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::kernel::{patch_stats_kernel, xcorr_forward_kernel};
use crate::model::xcorr::direct::XcorrGeometry;
use crate::model::xcorr::reference::VAR_FLOOR;

/// `[B, C, H, W]` of a rank-4 tensor (zeros for any missing axis).
pub(super) fn dims4(t: &CubeTensor) -> [usize; 4] {
    let shape = t.meta.shape();
    let d = |i: usize| shape.get(i).copied().unwrap_or(0);
    [d(0), d(1), d(2), d(3)]
}

/// A new contiguous tensor on `like`'s device with `like`'s dtype.
pub(super) fn empty_like(like: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape, like.dtype)
}

/// Patch statistics of a contiguous `[B, C, H, W]` tensor: `[3, B, C, H, W]` (mean, sigma, s).
pub(super) fn patch_stats(t: &CubeTensor, geo: &XcorrGeometry) -> CubeTensor {
    let [b, c, h, w] = dims4(t);
    let stats = empty_like(t, Shape::new([3, b, c, h, w]));
    let total = b * c * h * w;
    if total == 0 {
        return stats;
    }
    let cube_dim = CubeDim::new(&t.client, total);
    let cube_count = calculate_cube_count_elemwise(&t.client, total, cube_dim);
    patch_stats_kernel::launch(
        &t.client,
        cube_count,
        cube_dim,
        t.clone().into_tensor_arg(),
        stats.clone().into_tensor_arg(),
        geo.eps,
        VAR_FLOOR,
        geo.patch,
        dtype_to_storage_type(t.dtype),
    );
    stats
}

/// The layer: x, y `[B, C, H, W]` -> `[B, C*D*W, H, W]`.
pub(super) fn xcorr_forward_cube(x: CubeTensor, y: CubeTensor, geo: &XcorrGeometry) -> CubeTensor {
    let x = into_contiguous(x); // [B, C, H, W]
    let y = into_contiguous(y); // [B, C, H, W]
    let [b, c, h, w] = dims4(&x);
    let out = empty_like(&x, Shape::new([b, geo.depth(c, w), h, w])); // [B, C*D*W, H, W]
    let count = b * geo.depth(c, w) * h * w;
    if count == 0 {
        return out;
    }
    let x_stats = patch_stats(&x, geo); // [3, B, C, H, W]
    let y_stats = patch_stats(&y, geo); // [3, B, C, H, W]
    let cube_dim = CubeDim::new(&x.client, count);
    let cube_count = calculate_cube_count_elemwise(&x.client, count, cube_dim);
    let dtype = dtype_to_storage_type(x.dtype);
    xcorr_forward_kernel::launch(
        &x.client.clone(),
        cube_count,
        cube_dim,
        x.into_tensor_arg(),
        y.into_tensor_arg(),
        x_stats.into_tensor_arg(),
        y_stats.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        geo.patch,
        geo.band,
        dtype,
    );
    out
}
