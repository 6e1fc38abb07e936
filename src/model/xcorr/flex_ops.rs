//! [`XcorrOps`] for burn's flex (CPU) backend: the host kernels run directly on the flex
//! tensors' storage (no copy when a tensor is already contiguous f32), and the results are
//! handed to flex without a copy either.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;

use crate::model::flex_host::{HostValues, dims4, to_flex};

use super::cpu::xcorr_host_forward;
use super::cpu_backward::xcorr_cpu_backward;
use super::direct::XcorrGeometry;
use super::op::XcorrOps;
use super::reference::VAR_FLOOR;

impl XcorrOps for Flex {
    fn xcorr_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let out = xcorr_host_forward(xv.values(), yv.values(), dims, &geo, VAR_FLOOR);
        let [b, c, h, w] = dims;
        to_flex(out, [b, geo.depth(c, w), h, w], dtype) // [B, C*D*W, H, W]
    }

    fn xcorr_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let gv = HostValues::new(grad); // [B, C*D*W, H, W]
        let (dx, dy) =
            xcorr_cpu_backward(xv.values(), yv.values(), gv.values(), dims, &geo, VAR_FLOOR);
        (to_flex(dx, dims, dtype), to_flex(dy, dims, dtype)) // [B, C, H, W] each
    }
}
