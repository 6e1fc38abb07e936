//! [`PoolOps`] for burn's autodiff decorator: the forward runs the inner backend's op and
//! records a backward step that calls the inner backend's [`PoolOps::max_pool2_backward`].

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;

use super::PoolOps;

/// The backward step of the pool: state = the checkpointed input.
#[derive(Debug)]
struct PoolBackward;

impl<B: PoolOps> Backward<B, 1> for PoolBackward {
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node); // [B, C, H/2, W/2]
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state); // [B, C, H, W]
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::max_pool2_backward(x, grad));
        }
    }
}

impl<B: PoolOps, C: CheckpointStrategy> PoolOps for Autodiff<B, C> {
    fn max_pool2_forward(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let out = B::max_pool2_forward(x.into_primitive());
                prep.finish(x_state, out) // [B, C, H/2, W/2]
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool2_forward(x.into_primitive())),
        }
    }

    fn max_pool2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(B::max_pool2_backward(
            x.into_primitive(),
            grad.into_primitive(),
        ))
    }
}
