//! [`ConvOps`] for flex (the host kernels) and CubeCL (burn's own convolution ops).

use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::Shape;
use burn::tensor::ops::ConvOptions;
use burn_cubecl::CubeBackend;

use super::ConvOps;
use super::host::{ConvDims, conv_backward, conv_forward};
use crate::model::flex_host::{HostValues, dims4, to_flex};
use crate::model::simd::Isa;

fn dims(x: &burn::backend::flex::FlexTensor, weight: &burn::backend::flex::FlexTensor) -> ConvDims {
    let [batch, cin, h, w] = dims4(x);
    let [cout, _, k, _] = dims4(weight);
    ConvDims {
        batch,
        cin,
        cout,
        k,
        h,
        w,
    }
}

impl ConvOps for Flex {
    fn conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let d = dims(&x, &weight);
        let dtype = x.dtype();
        let (xv, wv, bv) = (
            HostValues::new(x),
            HostValues::new(weight),
            HostValues::new(bias),
        );
        let out = conv_forward(Isa::best(), xv.values(), wv.values(), bv.values(), d);
        to_flex(out, [d.batch, d.cout, d.ho(), d.wo()], dtype) // [B, Cout, Ho, Wo]
    }

    fn conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let d = dims(&x, &weight);
        let dtype = x.dtype();
        let (xv, wv, gv) = (
            HostValues::new(x),
            HostValues::new(weight),
            HostValues::new(grad),
        );
        let (dx, dw, db) = conv_backward(
            Isa::best(),
            xv.values(),
            wv.values(),
            gv.values(),
            d,
            need_dx,
        );
        (
            dx.map(|dx| to_flex(dx, [d.batch, d.cin, d.h, d.w], dtype)), // [B, Cin, H, W]
            to_flex(dw, [d.cout, d.cin, d.k, d.k], dtype),               // [Cout, Cin, K, K]
            to_flex(db, [d.cout], dtype),                                // [Cout]
        )
    }
}

fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [0, 0], [1, 1], 1)
}

impl ConvOps for CubeBackend {
    fn conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d(x, weight, Some(bias), options())
    }

    fn conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        need_dx: bool,
    ) -> (
        Option<FloatTensor<Self>>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let dx = need_dx.then(|| {
            <Self as ModuleOps<Self>>::conv2d_x_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options(),
            )
        });
        let dw = <Self as ModuleOps<Self>>::conv2d_weight_backward(
            x.clone(),
            weight.clone(),
            grad.clone(),
            options(),
        );
        // The bias gradient: the output gradient summed per channel.
        let [batch, cout, ho, wo] = grad.shape().dims();
        let g = Self::float_swap_dims(grad, 0, 1); // [Cout, B, Ho, Wo]
        let g = Self::float_reshape(g, Shape::new([cout, batch * ho * wo]));
        let db = Self::float_reshape(Self::float_sum_dim(g, 1), Shape::new([cout])); // [Cout]
        (dx, dw, db)
    }
}
