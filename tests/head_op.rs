//! The fused training op of the head's first stage, `conv1x1(relu(xcorr(x, y))) + bias`
//! (`model::xcorr::head_op`), against the same layers composed from the tensor-op reference
//! and burn's convolution, through autodiff: the output and all four gradients. And where it
//! declines: the reference path forced, a GPU device, shapes it does not take.

mod common;

use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use reid_explorer::model::xcorr::head_op::xcorr_head_op;
use reid_explorer::model::xcorr::{XcorrGeometry, with_reference_path, xcorr_reference};

/// Output and the gradients of x, y, weight, bias of `loss = sum(out * wt)`.
struct Run {
    out: Vec<f32>,
    grads: [Vec<f32>; 4],
}

fn run(
    dims: [usize; 4],
    k: usize,
    geo: &XcorrGeometry,
    f: impl Fn(Tensor<4>, Tensor<4>, (Tensor<4>, Tensor<1>)) -> Tensor<4>,
) -> Run {
    let ad = Device::flex().autodiff();
    let [b, c, h, w] = dims;
    let depth = geo.depth(c, w);
    let x = tensor4(edgy_input(dims, 11), dims, &ad).require_grad();
    let y = tensor4(edgy_input(dims, 12), dims, &ad).require_grad();
    let wv: Vec<f32> = random_values(k * depth, 13)
        .iter()
        .map(|v| v * 0.2)
        .collect();
    let weight = tensor4(wv, [k, depth, 1, 1], &ad).require_grad();
    let bias =
        Tensor::<1>::from_data(TensorData::new(random_values(k, 14), [k]), &ad).require_grad();
    let out = f(x.clone(), y.clone(), (weight.clone(), bias.clone())); // [B, K, H, W]
    assert_eq!(out.dims(), [b, k, h, w]);
    let wt = tensor4(random_values(b * k * h * w, 15), [b, k, h, w], &ad);
    let g = (out.clone() * wt).sum().backward();
    Run {
        out: to_vec(out),
        grads: [
            to_vec(x.grad(&g).expect("gradient of x")),
            to_vec(y.grad(&g).expect("gradient of y")),
            to_vec(weight.grad(&g).expect("gradient of the weight")),
            to_vec(bias.grad(&g).expect("gradient of the bias")),
        ],
    }
}

#[test]
fn fused_head_op_matches_the_composed_layers_and_their_gradients() {
    for (dims, k, patch, band) in [
        ([2, 25, 37, 12], 25, 5, 5), // the network's feature maps and head
        ([1, 3, 9, 7], 5, 3, 3),
        ([2, 2, 6, 17], 18, 5, 3),
    ] {
        let geo = XcorrGeometry {
            patch,
            band,
            eps: 0.01,
        };
        let fused = run(dims, k, &geo, |x, y, params| {
            xcorr_head_op(x, y, params, &geo).expect("the op covers autodiff flex")
        });
        let composed = run(dims, k, &geo, |x, y, (weight, bias)| {
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
        for (name, (got, want)) in ["x", "y", "weight", "bias"]
            .iter()
            .zip(fused.grads.iter().zip(&composed.grads))
        {
            let err = rel_l2(got, want);
            eprintln!("{dims:?} K{k} P{patch} D{band}: d{name} relative L2 error {err:.2e}");
            assert!(err < 1e-4, "{dims:?} K{k}: d{name} relative L2 error {err}");
        }
    }
}

#[test]
fn fused_head_op_declines_where_it_does_not_apply() {
    let geo = XcorrGeometry::default();
    let dims = [1, 2, 6, 5];
    let depth = geo.depth(2, 5);
    let inputs = |device: &Device, k: usize, depth: usize| {
        let x = tensor4(edgy_input(dims, 1), dims, device);
        let y = tensor4(edgy_input(dims, 2), dims, device);
        let w = tensor4(random_values(k * depth, 3), [k, depth, 1, 1], device);
        let b = Tensor::<1>::from_data(TensorData::new(random_values(k, 4), [k]), device);
        (x, y, (w, b))
    };
    let ad = Device::flex().autodiff();
    let (x, y, params) = inputs(&ad, 3, depth);
    assert!(xcorr_head_op(x, y, params, &geo).is_some());
    let (x, y, params) = inputs(&ad, 3, depth);
    assert!(with_reference_path(|| xcorr_head_op(x, y, params, &geo)).is_none());
    // Weights that do not read the whole volume.
    let (x, y, params) = inputs(&ad, 3, depth - 1);
    assert!(xcorr_head_op(x, y, params, &geo).is_none());
    if let Some(gpu) = gpu_device() {
        let (x, y, params) = inputs(&gpu.autodiff(), 3, depth);
        assert!(xcorr_head_op(x, y, params, &geo).is_none());
    }
}
