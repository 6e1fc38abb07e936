//! The traced forward: every intermediate map of both branches for one pair, as plain data.
//!
//! Names (and the `trace` command's `.npy` files): `input`, `conv1`, `pool1`, `conv2`, `pool2`
//! for branches `a` and `b`; then `xcorr` (before its ReLU), `head_conv1`, `head_conv3`,
//! `head_pool`, `fc500`, `logits`, `probs` for branch `pair`. Shapes have no batch axis.

use burn::tensor::Tensor;

use super::network::{XCorrNet, probabilities};

/// Which branch a map belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Branch {
    A,
    B,
    Pair,
}

impl Branch {
    /// `a`, `b` or `pair`.
    pub fn as_str(self) -> &'static str {
        match self {
            Branch::A => "a",
            Branch::B => "b",
            Branch::Pair => "pair",
        }
    }
}

/// One traced map.
#[derive(Debug, Clone)]
pub struct TracedMap {
    pub name: &'static str,
    pub branch: Branch,
    /// Without the batch axis, e.g. `[25, 37, 12]`.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Every map of one forward pass, in network order.
#[derive(Debug, Clone)]
pub struct Trace {
    pub maps: Vec<TracedMap>,
}

impl Trace {
    /// The map called `name` in `branch`.
    pub fn get(&self, name: &str, branch: Branch) -> Option<&TracedMap> {
        self.maps
            .iter()
            .find(|m| m.name == name && m.branch == branch)
    }

    /// p(same) of the traced pair.
    pub fn p_same(&self) -> Option<f32> {
        self.get("probs", Branch::Pair)
            .and_then(|m| m.data.get(1).copied())
    }
}

/// Why a trace failed: the backend could not hand its data back.
#[derive(Debug, thiserror::Error)]
#[error("reading a tensor back from the device failed: {0}")]
pub struct TraceError(pub String);

fn read<const D: usize>(
    name: &'static str,
    branch: Branch,
    t: Tensor<D>,
) -> Result<TracedMap, TraceError> {
    let dims = t.dims();
    let data = t
        .try_into_vec_as::<f32>()
        .map_err(|e| TraceError(format!("{e:?}")))?;
    Ok(TracedMap {
        name,
        branch,
        shape: dims[1..].to_vec(),
        data,
    })
}

/// Run one pair through the network keeping every map: a, b `[1, 3, 160, 60]`.
pub fn trace(net: &XCorrNet, a: Tensor<4>, b: Tensor<4>) -> Result<Trace, TraceError> {
    let mut maps = Vec::with_capacity(17);
    let ta = net.trunk_maps(a.clone());
    let tb = net.trunk_maps(b.clone());
    let corr = net.correlate(ta.pool2.clone(), tb.pool2.clone()); // [1, 1500, 37, 12]
    let head = net.head_maps(corr.clone());
    let probs = probabilities(head.logits.clone()); // [1, 2]
    for (branch, input, t) in [(Branch::A, a, ta), (Branch::B, b, tb)] {
        maps.push(read("input", branch, input)?);
        maps.push(read("conv1", branch, t.conv1)?);
        maps.push(read("pool1", branch, t.pool1)?);
        maps.push(read("conv2", branch, t.conv2)?);
        maps.push(read("pool2", branch, t.pool2)?);
    }
    maps.push(read("xcorr", Branch::Pair, corr)?);
    maps.push(read("head_conv1", Branch::Pair, head.conv1)?);
    maps.push(read("head_conv3", Branch::Pair, head.conv3)?);
    maps.push(read("head_pool", Branch::Pair, head.pool)?);
    maps.push(read("fc500", Branch::Pair, head.fc500)?);
    maps.push(read("logits", Branch::Pair, head.logits)?);
    maps.push(read("probs", Branch::Pair, probs)?);
    Ok(Trace { maps })
}
