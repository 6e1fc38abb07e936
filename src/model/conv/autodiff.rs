//! [`ConvOps`] for burn's autodiff decorator: the forward runs the inner backend's op and
//! records a backward step that calls the inner backend's [`ConvOps::conv_backward`].

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::ConvOps;

/// The backward step of the convolution: state = the checkpointed input and weight.
#[derive(Debug)]
struct ConvBackward;

impl<B: ConvOps> Backward<B, 3> for ConvBackward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node); // [B, Cout, Ho, Wo]
        let (x_state, w_state) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state); // [B, Cin, H, W]
        let w: FloatTensor<B> = checkpointer.retrieve_node_output(w_state); // [Cout, Cin, K, K]
        // The input gradient is skipped when nothing upstream needs it (the images).
        let (dx, dw, db) = B::conv_backward(x, w, grad, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            grads.register::<B>(node.id, dw);
        }
        if let Some(node) = node_b {
            grads.register::<B>(node.id, db);
        }
    }
}

impl<B: ConvOps, C: CheckpointStrategy> ConvOps for Autodiff<B, C> {
    fn conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let out = B::conv_forward(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish((x_state, w_state), out) // [B, Cout, Ho, Wo]
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
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
        let (dx, dw, db) = B::conv_backward(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            need_dx,
        );
        (
            dx.map(Self::from_inner),
            Self::from_inner(dw),
            Self::from_inner(db),
        )
    }
}
