//! [`PoolOps`] for flex (the host kernels) and CubeCL (burn's own max-pool ops).

use burn::backend::Flex;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::IntDType;
use burn_cubecl::CubeBackend;

use super::PoolOps;
use super::host::{PoolDims, max_pool2_backward, max_pool2_forward};
use crate::model::flex_host::{HostValues, dims4, to_flex};

/// `[B, C, H, W]` of a flex tensor and the pool's sizes over its B*C planes.
fn dims(x: &burn::backend::flex::FlexTensor) -> ([usize; 4], PoolDims) {
    let [b, c, h, w] = dims4(x);
    (
        [b, c, h, w],
        PoolDims {
            planes: b * c,
            h,
            w,
        },
    )
}

impl PoolOps for Flex {
    fn max_pool2_forward(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let ([b, c, _, _], d) = dims(&x);
        let dtype = x.dtype();
        let xv = HostValues::new(x);
        let out = max_pool2_forward(xv.values(), d);
        to_flex(out, [b, c, d.ho(), d.wo()], dtype) // [B, C, H/2, W/2]
    }

    fn max_pool2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let (shape, d) = dims(&x);
        let dtype = x.dtype();
        let (xv, gv) = (HostValues::new(x), HostValues::new(grad));
        let dx = max_pool2_backward(xv.values(), gv.values(), d);
        to_flex(dx, shape, dtype) // [B, C, H, W]
    }
}

const WINDOW: [usize; 2] = [2, 2];
const NO_PAD: [usize; 2] = [0, 0];
const NO_DILATION: [usize; 2] = [1, 1];

impl PoolOps for CubeBackend {
    fn max_pool2_forward(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::max_pool2d(x, WINDOW, WINDOW, NO_PAD, NO_DILATION, false)
    }

    fn max_pool2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let pooled = <Self as ModuleOps<Self>>::max_pool2d_with_indices(
            x.clone(),
            WINDOW,
            WINDOW,
            NO_PAD,
            NO_DILATION,
            false,
            IntDType::I32,
        );
        <Self as ModuleOps<Self>>::max_pool2d_with_indices_backward(
            x,
            WINDOW,
            WINDOW,
            NO_PAD,
            NO_DILATION,
            false,
            grad,
            pooled.indices,
        )
        .x_grad // [B, C, H, W]
    }
}
