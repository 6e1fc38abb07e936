//! The fused training op of the head's first stage, `conv1x1(relu(xcorr(f[a], f[b]))) + bias`
//! for index pairs (a, b) into one feature batch (`model::xcorr::head_op`), against the same
//! layers composed from burn's select, the tensor-op reference and burn's convolution, through
//! autodiff: the output and the gradients of the features, weight and bias. And where it
//! declines: the reference path forced, a GPU device, shapes or indices it does not take.

mod common;

use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use reid_explorer::model::xcorr::head_op::xcorr_head_op;
use reid_explorer::model::xcorr::{XcorrGeometry, with_reference_path, xcorr_reference};

/// Output and the gradients of the features, weight, bias of `loss = sum(out * wt)`.
struct Run {
    out: Vec<f32>,
    grads: [Vec<f32>; 3],
}

/// Pairs sharing images, an image on both sides of different pairs, one in no pair (4).
const PAIRS: [(usize, usize); 5] = [(0, 1), (2, 0), (1, 2), (0, 3), (3, 1)];

fn run(
    dims: [usize; 4],
    k: usize,
    geo: &XcorrGeometry,
    f: impl Fn(Tensor<4>, (Tensor<4>, Tensor<1>)) -> Tensor<4>,
) -> Run {
    let ad = Device::flex().autodiff();
    let [_, c, h, w] = dims;
    let depth = geo.depth(c, w);
    let features = tensor4(edgy_input(dims, 11), dims, &ad).require_grad();
    let wv: Vec<f32> = random_values(k * depth, 13)
        .iter()
        .map(|v| v * 0.2)
        .collect();
    let weight = tensor4(wv, [k, depth, 1, 1], &ad).require_grad();
    let bias =
        Tensor::<1>::from_data(TensorData::new(random_values(k, 14), [k]), &ad).require_grad();
    let out = f(features.clone(), (weight.clone(), bias.clone())); // [P, K, H, W]
    let p = PAIRS.len();
    assert_eq!(out.dims(), [p, k, h, w]);
    let wt = tensor4(random_values(p * k * h * w, 15), [p, k, h, w], &ad);
    let g = (out.clone() * wt).sum().backward();
    Run {
        out: to_vec(out),
        grads: [
            to_vec(features.grad(&g).expect("gradient of the features")),
            to_vec(weight.grad(&g).expect("gradient of the weight")),
            to_vec(bias.grad(&g).expect("gradient of the bias")),
        ],
    }
}

/// The pairs' side `side` of `features` through burn's select: `[P, C, H, W]`.
fn gather(features: Tensor<4>, side: fn(&(usize, usize)) -> usize) -> Tensor<4> {
    let v: Vec<i64> = PAIRS.iter().map(|p| side(p) as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(v, [PAIRS.len()]), &features.device());
    features.select(0, index)
}

#[test]
fn fused_head_op_matches_the_composed_layers_and_their_gradients() {
    for (dims, k, patch, band) in [
        ([5, 25, 37, 12], 25, 5, 5), // the network's feature maps and head
        ([5, 3, 9, 7], 5, 3, 3),
        ([5, 2, 6, 17], 18, 5, 3),
    ] {
        let geo = XcorrGeometry {
            patch,
            band,
            eps: 0.01,
        };
        let fused = run(dims, k, &geo, |f, params| {
            xcorr_head_op(f, &PAIRS, params, &geo).expect("the op covers autodiff flex")
        });
        let composed = run(dims, k, &geo, |f, (weight, bias)| {
            let (x, y) = (gather(f.clone(), |p| p.0), gather(f, |p| p.1));
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            conv2d(
                relu(xcorr_reference(x, y, &geo)),
                weight,
                Some(bias),
                options,
            )
        });
        let err = rel_l2(&fused.out, &composed.out);
        assert!(err < 1e-5, "{dims:?} K{k}: output relative L2 error {err}");
        for (name, (got, want)) in ["features", "weight", "bias"]
            .iter()
            .zip(fused.grads.iter().zip(&composed.grads))
        {
            let err = rel_l2(got, want);
            eprintln!("{dims:?} K{k} P{patch} D{band}: d{name} relative L2 error {err:.2e}");
            assert!(err < 1e-4, "{dims:?} K{k}: d{name} relative L2 error {err}");
        }
        // Image 4 is in no pair.
        let per = dims[1] * dims[2] * dims[3];
        assert!(fused.grads[0][4 * per..].iter().all(|v| *v == 0.0));
    }
}

#[test]
fn fused_head_op_declines_where_it_does_not_apply() {
    let geo = XcorrGeometry::default();
    let dims = [4, 2, 6, 5];
    let depth = geo.depth(2, 5);
    let inputs = |device: &Device, k: usize, depth: usize| {
        let f = tensor4(edgy_input(dims, 1), dims, device);
        let w = tensor4(random_values(k * depth, 3), [k, depth, 1, 1], device);
        let b = Tensor::<1>::from_data(TensorData::new(random_values(k, 4), [k]), device);
        (f, (w, b))
    };
    let ad = Device::flex().autodiff();
    let (f, params) = inputs(&ad, 3, depth);
    assert!(xcorr_head_op(f, &[(0, 1), (3, 2)], params, &geo).is_some());
    let (f, params) = inputs(&ad, 3, depth);
    assert!(with_reference_path(|| xcorr_head_op(f, &[(0, 1)], params, &geo)).is_none());
    // An index past the batch, no pairs, weights that do not read the whole volume.
    let (f, params) = inputs(&ad, 3, depth);
    assert!(xcorr_head_op(f, &[(0, 4)], params, &geo).is_none());
    let (f, params) = inputs(&ad, 3, depth);
    assert!(xcorr_head_op(f, &[], params, &geo).is_none());
    let (f, params) = inputs(&ad, 3, depth - 1);
    assert!(xcorr_head_op(f, &[(0, 1)], params, &geo).is_none());
    if let Some(gpu) = gpu_device() {
        let (f, params) = inputs(&gpu.autodiff(), 3, depth);
        assert!(xcorr_head_op(f, &[(0, 1)], params, &geo).is_none());
    }
}
