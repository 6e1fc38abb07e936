//! The head's first stage for training, `conv1x1(relu(xcorr(f[a], f[b]))) + bias` for pairs
//! (a, b) of images of one feature batch `f`, as one Burn custom operation with a forward and
//! a backward pass, so that a training step on the CPU never materialises the correlation
//! volume (384 MB for a 144-pair reuse batch) nor its gradient, nor the ReLU's copy and mask of
//! it, and normalises each image's patches once however many pairs it is in:
//! - `Flex`: forward = [`super::band_forward`], backward = [`super::fused_backward`];
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
use std::sync::Arc;

use super::band_forward::head_forward_cpu;
use super::direct::XcorrGeometry;
use super::fused::head_shapes_fit;
use super::fused_backward::xcorr_conv1x1_backward_cpu;
use super::reference::VAR_FLOOR;
use super::{XcorrPath, path_for};
use crate::model::flex_host::{HostValues, dims4, to_flex};
use crate::model::simd::Isa;

/// The pairs of a [`XcorrHeadOps`] call: `(a, b)` indices into its feature batch, pair p
/// correlating image a (as X) with image b (as Y).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadPairs(pub Arc<[(usize, usize)]>);

/// The fused head stage as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait XcorrHeadOps: Backend {
    /// features `[N, C, H, W]`, weight `[K, C*D*W]`, bias `[K]` -> `[P, K, H, W]` for the P
    /// pairs.
    fn xcorr_head_forward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self>;

    /// Gradients: features, weight as above, `grad` = dL/d(out) `[P, K, H, W]` ->
    /// (dL/dfeatures `[N, C, H, W]`, summed over each image's pairs; dL/dweight `[K, C*D*W]`;
    /// dL/dbias `[K]`). Not itself differentiable.
    fn xcorr_head_backward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl XcorrHeadOps for Flex {
    fn xcorr_head_forward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let dims = dims4(&features); // [N, C, H, W]
        let dtype = features.dtype();
        let fv = HostValues::new(features);
        let (wv, bv) = (HostValues::new(weight), HostValues::new(bias));
        let params = (wv.values(), bv.values());
        let input = (fv.values(), dims);
        let out = head_forward_cpu(Isa::best(), input, &pairs.0, (&geo, VAR_FLOOR), params);
        let [_, _, h, w] = dims;
        to_flex(out, [pairs.0.len(), bv.values().len(), h, w], dtype) // [P, K, H, W]
    }

    fn xcorr_head_backward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let dims = dims4(&features); // [N, C, H, W]
        let dtype = features.dtype();
        let fv = HostValues::new(features);
        let (wv, gv) = (HostValues::new(weight), HostValues::new(grad));
        let (df, dw, db) = xcorr_conv1x1_backward_cpu(
            Isa::best(),
            (fv.values(), dims),
            &pairs.0,
            (&geo, VAR_FLOOR),
            wv.values(),
            gv.values(),
        );
        let [_, c, _, w] = dims;
        let k = db.len();
        (
            to_flex(df, dims, dtype),                 // [N, C, H, W]
            to_flex(dw, [k, geo.depth(c, w)], dtype), // [K, C*D*W]
            to_flex(db, [k], dtype),                  // [K]
        )
    }
}

/// The backward step: state = the checkpointed features and weight, the pairs, the geometry.
#[derive(Debug)]
struct HeadBackward;

impl<B: XcorrHeadOps> Backward<B, 3> for HeadBackward {
    type State = (NodeId, NodeId, HeadPairs, XcorrGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_f, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node); // [P, K, H, W]
        let (f_state, w_state, pairs, geo) = ops.state;
        let f: FloatTensor<B> = checkpointer.retrieve_node_output(f_state); // [N, C, H, W]
        let w: FloatTensor<B> = checkpointer.retrieve_node_output(w_state); // [K, C*D*W]
        // One pass computes all three; an untracked input's gradient is dropped.
        let (df, dw, db) = B::xcorr_head_backward(f, w, grad, pairs, geo);
        for (node, g) in [(node_f, df), (node_w, dw), (node_b, db)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: XcorrHeadOps, C: CheckpointStrategy> XcorrHeadOps for Autodiff<B, C> {
    fn xcorr_head_forward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let nodes = [features.node(), weight.node(), bias.node()];
        match HeadBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let f_state = prep.checkpoint(&features);
                let w_state = prep.checkpoint(&weight);
                let out = B::xcorr_head_forward(
                    features.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    pairs.clone(),
                    geo,
                );
                prep.finish((f_state, w_state, pairs, geo), out) // [P, K, H, W]
            }
            OpsKind::UnTracked(prep) => prep.finish(B::xcorr_head_forward(
                features.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                pairs,
                geo,
            )),
        }
    }

    fn xcorr_head_backward(
        features: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pairs: HeadPairs,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (df, dw, db) = B::xcorr_head_backward(
            features.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            pairs,
            geo,
        );
        (
            Self::from_inner(df),
            Self::from_inner(dw),
            Self::from_inner(db),
        )
    }
}

/// `conv1x1(relu(xcorr(f[a], f[b]))) + bias` through the op for each pair (a, b) of
/// `pairs`: features `f` `[N, C, H, W]`, the 1x1 convolution's `weight` `[K, C*D*W, 1, 1]`
/// and `bias` `[K]` -> `[P, K, H, W]` (before the head's ReLU), differentiable on autodiff
/// devices. `None` off the CPU path (wgpu, or the reference forced), for shapes it does not
/// take, and for an index out of range; the caller then composes the layers.
pub fn xcorr_head_op(
    features: Tensor<4>,
    pairs: &[(usize, usize)],
    (weight, bias): (Tensor<4>, Tensor<1>),
    geo: &XcorrGeometry,
) -> Option<Tensor<4>> {
    let device = features.device();
    let dims = features.dims();
    let [k, depth, _, _] = weight.dims();
    let ok = path_for(&device) == XcorrPath::Cpu
        && weight.device() == device
        && bias.device() == device
        && !pairs.is_empty()
        && pairs.iter().all(|&(a, b)| a < dims[0] && b < dims[0])
        && head_shapes_fit(dims, (dims, weight.dims(), bias.dims()), geo);
    if !ok {
        return None;
    }
    let weight = weight.reshape([k, depth]); // [K, C*D*W]
    let out = burn::backend::Dispatch::xcorr_head_forward(
        features.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        HeadPairs(pairs.into()),
        *geo,
    );
    Some(Tensor::from_dispatch(out)) // [P, K, H, W]
}
