//! The head's first stage for training, `conv1x1(relu(xcorr(x, y))) + bias`, as one Burn
//! custom operation with a forward and a backward pass, so that a training step on the CPU
//! never materialises the correlation volume (384 MB for a 144-pair reuse batch) nor its
//! gradient, nor the ReLU's copy and mask of it:
//! - `Flex`: forward = the fused host pass of [`super::fused`], backward =
//!   [`super::fused_backward`];
//! - `Autodiff<B>`: a recorded backward step calling `B::xcorr_head_backward`.
//!
//! Other backends (wgpu) keep the separate layers: [`xcorr_head_op`] returns `None` there (and
//! when the reference path is forced) and the network composes the correlation op, the ReLU
//! and the convolution op instead.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::Tensor;

use super::direct::XcorrGeometry;
use super::fused::{head_shapes_fit, xcorr_conv1x1_cpu};
use super::fused_backward::xcorr_conv1x1_backward_cpu;
use super::reference::VAR_FLOOR;
use super::{XcorrPath, path_for};
use crate::model::flex_host::{HostValues, dims4, to_flex};
use crate::model::simd::Isa;

/// The fused head stage as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait XcorrHeadOps: Backend {
    /// x, y `[B, C, H, W]`, weight `[K, C*D*W]`, bias `[K]` -> `[B, K, H, W]`.
    fn xcorr_head_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self>;

    /// Gradients: x, y, weight as above, `grad` = dL/d(out) `[B, K, H, W]` ->
    /// (dL/dx, dL/dy `[B, C, H, W]`, dL/dweight `[K, C*D*W]`, dL/dbias `[K]`). Not itself
    /// differentiable.
    fn xcorr_head_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

impl XcorrHeadOps for Flex {
    fn xcorr_head_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let (wv, bv) = (HostValues::new(weight), HostValues::new(bias));
        let planes = (xv.values(), yv.values());
        let params = (wv.values(), bv.values());
        let out = xcorr_conv1x1_cpu(Isa::best(), planes, dims, &geo, VAR_FLOOR, params);
        let [b, _, h, w] = dims;
        to_flex(out, [b, bv.values().len(), h, w], dtype) // [B, K, H, W]
    }

    fn xcorr_head_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let (wv, gv) = (HostValues::new(weight), HostValues::new(grad));
        let (dx, dy, dw, db) = xcorr_conv1x1_backward_cpu(
            Isa::best(),
            (xv.values(), yv.values()),
            dims,
            (&geo, VAR_FLOOR),
            wv.values(),
            gv.values(),
        );
        let [_, c, _, w] = dims;
        let k = db.len();
        (
            to_flex(dx, dims, dtype),                 // [B, C, H, W]
            to_flex(dy, dims, dtype),                 // [B, C, H, W]
            to_flex(dw, [k, geo.depth(c, w)], dtype), // [K, C*D*W]
            to_flex(db, [k], dtype),                  // [K]
        )
    }
}

/// The backward step: state = the checkpointed x, y and weight, and the geometry.
#[derive(Debug)]
struct HeadBackward;

impl<B: XcorrHeadOps> Backward<B, 4> for HeadBackward {
    type State = (NodeId, NodeId, NodeId, XcorrGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 4>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_y, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node); // [B, K, H, W]
        let (x_state, y_state, w_state, geo) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state); // [B, C, H, W]
        let y: FloatTensor<B> = checkpointer.retrieve_node_output(y_state); // [B, C, H, W]
        let w: FloatTensor<B> = checkpointer.retrieve_node_output(w_state); // [K, C*D*W]
        // One pass computes all four; an untracked input's gradient is dropped.
        let (dx, dy, dw, db) = B::xcorr_head_backward(x, y, w, grad, geo);
        for (node, g) in [(node_x, dx), (node_y, dy), (node_w, dw), (node_b, db)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: XcorrHeadOps, C: CheckpointStrategy> XcorrHeadOps for Autodiff<B, C> {
    fn xcorr_head_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), y.node(), weight.node(), bias.node()];
        match HeadBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y_state = prep.checkpoint(&y);
                let w_state = prep.checkpoint(&weight);
                let out = B::xcorr_head_forward(
                    x.into_primitive(),
                    y.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    geo,
                );
                prep.finish((x_state, y_state, w_state, geo), out) // [B, K, H, W]
            }
            OpsKind::UnTracked(prep) => prep.finish(B::xcorr_head_forward(
                x.into_primitive(),
                y.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                geo,
            )),
        }
    }

    fn xcorr_head_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let (dx, dy, dw, db) = B::xcorr_head_backward(
            x.into_primitive(),
            y.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            geo,
        );
        (
            Self::from_inner(dx),
            Self::from_inner(dy),
            Self::from_inner(dw),
            Self::from_inner(db),
        )
    }
}

/// `conv1x1(relu(xcorr(x, y))) + bias` through the op: x, y `[B, C, H, W]`, the 1x1
/// convolution's `weight` `[K, C*D*W, 1, 1]` and `bias` `[K]` -> `[B, K, H, W]` (before the
/// head's ReLU), differentiable on autodiff devices. `None` off the CPU path (wgpu, or the
/// reference forced) and for shapes it does not take; the caller then composes the layers.
pub fn xcorr_head_op(
    x: Tensor<4>,
    y: Tensor<4>,
    (weight, bias): (Tensor<4>, Tensor<1>),
    geo: &XcorrGeometry,
) -> Option<Tensor<4>> {
    let device = x.device();
    let dims = x.dims();
    let [k, depth, _, _] = weight.dims();
    let ok = path_for(&device) == XcorrPath::Cpu
        && y.device() == device
        && weight.device() == device
        && bias.device() == device
        && head_shapes_fit(dims, (y.dims(), weight.dims(), bias.dims()), geo);
    if !ok {
        return None;
    }
    let weight = weight.reshape([k, depth]); // [K, C*D*W]
    let out = burn::backend::Dispatch::xcorr_head_forward(
        x.into_dispatch(),
        y.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        *geo,
    );
    Some(Tensor::from_dispatch(out)) // [B, K, H, W]
}
