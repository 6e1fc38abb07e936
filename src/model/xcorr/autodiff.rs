//! [`XcorrOps`] for burn's autodiff decorator: the forward runs the inner backend's op and
//! records a backward step that calls the inner backend's [`XcorrOps::xcorr_backward`].

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::direct::XcorrGeometry;
use super::op::XcorrOps;

/// The backward step of the correlation: state = the checkpointed inputs and the geometry.
#[derive(Debug)]
struct XcorrBackward;

impl<B: XcorrOps> Backward<B, 2> for XcorrBackward {
    type State = (NodeId, NodeId, XcorrGeometry);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_y] = ops.parents;
        let grad = grads.consume::<B>(&ops.node); // [B, C*D*W, H, W]
        let (x_state, y_state, geo) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state); // [B, C, H, W]
        let y: FloatTensor<B> = checkpointer.retrieve_node_output(y_state); // [B, C, H, W]
        // One kernel computes both gradients; an untracked input's is dropped.
        let (dx, dy) = B::xcorr_backward(x, y, grad, geo);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_y {
            grads.register::<B>(node.id, dy);
        }
    }
}

impl<B: XcorrOps, C: CheckpointStrategy> XcorrOps for Autodiff<B, C> {
    fn xcorr_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        match XcorrBackward
            .prepare::<C>([x.node(), y.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y_state = prep.checkpoint(&y);
                let out = B::xcorr_forward(x.into_primitive(), y.into_primitive(), geo);
                prep.finish((x_state, y_state, geo), out) // [B, C*D*W, H, W]
            }
            OpsKind::UnTracked(prep) => prep.finish(B::xcorr_forward(
                x.into_primitive(),
                y.into_primitive(),
                geo,
            )),
        }
    }

    fn xcorr_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Not differentiable itself: the gradients come back as untracked (constant) tensors.
        let (dx, dy) = B::xcorr_backward(
            x.into_primitive(),
            y.into_primitive(),
            grad.into_primitive(),
            geo,
        );
        (Self::from_inner(dx), Self::from_inner(dy))
    }
}
