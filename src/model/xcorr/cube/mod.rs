//! [`XcorrOps`] for burn's CubeCL backend (wgpu here; any CubeCL runtime): fused kernels in
//! [`kernel`], their launches in `forward` and `backward`.

mod backward;
mod forward;
pub mod kernel;

use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;

use super::direct::XcorrGeometry;
use super::op::XcorrOps;

impl XcorrOps for CubeBackend {
    fn xcorr_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        forward::xcorr_forward_cube(x, y, &geo)
    }

    fn xcorr_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        backward::xcorr_backward_cube(x, y, grad, &geo)
    }
}
