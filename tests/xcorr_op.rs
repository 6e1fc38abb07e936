//! The correlation layer as a custom op (forward and backward) against the tensor-op reference
//! through autodiff, on flex always and on wgpu when an adapter exists; the golden vectors
//! through the op; the dispatcher; a whole training step with the op and with the reference;
//! the convolution and max-pool ops against burn's layers, forward and gradients.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use reid_explorer::model::xcorr::{
    XcorrGeometry, XcorrPath, op_supported, path_for, with_reference_path, xcorr, xcorr_op,
    xcorr_op_backward, xcorr_reference,
};
use reid_explorer::model::{ModelConfig, XCorrNet};

/// Shapes with edges: tiny maps, batch 1 and 3, the network's real feature maps.
const SHAPES: [[usize; 4]; 6] = [
    [1, 1, 2, 3],
    [2, 3, 9, 6],
    [1, 2, 5, 5],
    [3, 4, 7, 8],
    [1, 1, 12, 3],
    [2, 25, 37, 12],
];

/// Output and both input gradients of `loss = sum(out * wt)`.
struct Run {
    out: Vec<f32>,
    gx: Vec<f32>,
    gy: Vec<f32>,
}

/// Forward and backward through `f` on the autodiff twin of `device` (band 5).
fn run(
    device: &Device,
    dims: [usize; 4],
    inputs: (&[f32], &[f32], &[f32]),
    f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Run {
    run_band(device, dims, 5, inputs, f)
}

/// [`run`] for a band of `band` rows.
fn run_band(
    device: &Device,
    dims: [usize; 4],
    band: usize,
    (x, y, wt): (&[f32], &[f32], &[f32]),
    f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Run {
    let ad = device.clone().autodiff();
    let [b, c, h, w] = dims;
    let xt = tensor4(x.to_vec(), dims, &ad).require_grad();
    let yt = tensor4(y.to_vec(), dims, &ad).require_grad();
    let out = f(xt.clone(), yt.clone()); // [B, C*D*W, H, W]
    assert_eq!(out.dims(), [b, c * band * w, h, w]);
    let wt = tensor4(wt.to_vec(), [b, c * band * w, h, w], &ad);
    let grads = (out.clone() * wt).sum().backward();
    Run {
        out: to_vec(out),
        gx: to_vec(xt.grad(&grads).expect("gradient of x")),
        gy: to_vec(yt.grad(&grads).expect("gradient of y")),
    }
}

fn op(x: Tensor<4>, y: Tensor<4>) -> Tensor<4> {
    xcorr_op(x, y, &XcorrGeometry::default()).expect("op covers this device")
}

fn reference(x: Tensor<4>, y: Tensor<4>) -> Tensor<4> {
    xcorr_reference(x, y, &XcorrGeometry::default())
}

/// Op against reference on `device` for every shape: outputs < 1e-5, gradients < 1e-4.
fn op_matches_reference_on(device: &Device, label: &str) {
    for (i, dims) in SHAPES.into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let [b, c, h, w] = dims;
        let x = edgy_input(dims, seed);
        let y = edgy_input(dims, seed + 1);
        let wt = random_values(b * c * 5 * w * h * w, seed + 2);
        let inputs = (x.as_slice(), y.as_slice(), wt.as_slice());
        let want = run(&Device::flex(), dims, inputs, reference);
        let got = run(device, dims, inputs, op);
        let e_out = rel_l2(&got.out, &want.out);
        let e_gx = rel_l2(&got.gx, &want.gx);
        let e_gy = rel_l2(&got.gy, &want.gy);
        eprintln!("{label} {dims:?}: out {e_out:.2e}, dx {e_gx:.2e}, dy {e_gy:.2e}");
        assert!(
            e_out < 1e-5,
            "{label} {dims:?}: output relative L2 error {e_out}"
        );
        assert!(
            e_gx < 1e-4,
            "{label} {dims:?}: dL/dx relative L2 error {e_gx}"
        );
        assert!(
            e_gy < 1e-4,
            "{label} {dims:?}: dL/dy relative L2 error {e_gy}"
        );
        assert!(
            got.gx.iter().chain(&got.gy).all(|g| g.is_finite()),
            "{label} {dims:?}: no NaN from flat or all-zero patches"
        );
    }
}

#[test]
fn flex_op_matches_reference_outputs_and_gradients() {
    op_matches_reference_on(&Device::flex(), "flex");
}

#[test]
fn wgpu_op_matches_reference_outputs_and_gradients() {
    let Some(gpu) = gpu_device() else { return };
    op_matches_reference_on(&gpu, "wgpu");
}

/// Other patch sides and bands (including the host kernel's generic-length path, P = 9).
fn other_geometries_on(device: &Device, label: &str) {
    let dims = [2, 3, 11, 7];
    let [b, c, h, w] = dims;
    for (patch, band) in [(3, 3), (7, 5), (9, 3), (5, 1)] {
        let geo = XcorrGeometry {
            patch,
            band,
            eps: 0.01,
        };
        let x = edgy_input(dims, 80 + patch as u64);
        let y = edgy_input(dims, 90 + band as u64);
        let wt = random_values(b * c * band * w * h * w, 7);
        let inputs = (x.as_slice(), y.as_slice(), wt.as_slice());
        let want = run_band(&Device::flex(), dims, band, inputs, |x, y| {
            xcorr_reference(x, y, &geo)
        });
        let got = run_band(device, dims, band, inputs, |x, y| {
            xcorr_op(x, y, &geo).expect("op covers this device")
        });
        let errs = [
            rel_l2(&got.out, &want.out),
            rel_l2(&got.gx, &want.gx),
            rel_l2(&got.gy, &want.gy),
        ];
        eprintln!(
            "{label} P={patch} D={band}: out {:.2e}, dx {:.2e}, dy {:.2e}",
            errs[0], errs[1], errs[2]
        );
        assert!(
            errs[0] < 1e-5,
            "{label} P={patch} D={band}: output {}",
            errs[0]
        );
        assert!(
            errs[1] < 1e-4 && errs[2] < 1e-4,
            "{label} P={patch} D={band}: {errs:?}"
        );
    }
}

#[test]
fn other_geometries_match_reference() {
    other_geometries_on(&Device::flex(), "flex");
    if let Some(gpu) = gpu_device() {
        other_geometries_on(&gpu, "wgpu");
    }
}

/// The op's backward called on its own (no autodiff) gives the autodiff gradients.
fn standalone_backward_on(device: &Device) {
    let dims = [2, 3, 9, 6];
    let [b, c, h, w] = dims;
    let x = edgy_input(dims, 51);
    let y = edgy_input(dims, 52);
    let wt = random_values(b * c * 5 * w * h * w, 53);
    let want = run(&Device::flex(), dims, (&x, &y, &wt), reference);
    let (gx, gy) = xcorr_op_backward(
        tensor4(x, dims, device),
        tensor4(y, dims, device),
        tensor4(wt, [b, c * 5 * w, h, w], device),
        &XcorrGeometry::default(),
    )
    .expect("op covers this device");
    assert!(rel_l2(&to_vec(gx), &want.gx) < 1e-4);
    assert!(rel_l2(&to_vec(gy), &want.gy) < 1e-4);
}

#[test]
fn standalone_backward_matches_autodiff() {
    standalone_backward_on(&Device::flex());
    if let Some(gpu) = gpu_device() {
        standalone_backward_on(&gpu);
    }
}

fn golden_through_op_on(device: &Device, label: &str) {
    for case in ["small_2x3x9x6", "full_1x25x37x12", "batch_4x25x37x12"] {
        let Some(g) = golden(case) else { return };
        let out = op(tensor4(g.x, g.dims, device), tensor4(g.y, g.dims, device));
        assert_eq!(out.dims().to_vec(), g.out_dims.to_vec());
        let err = rel_l2(&to_vec(out), &g.out);
        assert!(err < 1e-5, "{label} {case}: relative L2 error {err}");
    }
}

#[test]
fn op_matches_golden_vectors() {
    golden_through_op_on(&Device::flex(), "flex");
    if let Some(gpu) = gpu_device() {
        golden_through_op_on(&gpu, "wgpu");
    }
}

#[test]
fn dispatcher_routes_flex_and_autodiff_through_the_op() {
    let flex = Device::flex();
    assert!(op_supported(&flex) && op_supported(&flex.clone().autodiff()));
    assert_eq!(path_for(&flex), XcorrPath::Cpu);
    assert_eq!(path_for(&flex.clone().autodiff()), XcorrPath::Cpu);
    with_reference_path(|| assert_eq!(path_for(&flex), XcorrPath::Reference));
    assert_eq!(path_for(&flex), XcorrPath::Cpu, "the switch is scoped");
    if let Some(gpu) = gpu_device() {
        assert_eq!(path_for(&gpu), XcorrPath::Gpu);
        assert_eq!(path_for(&gpu.autodiff()), XcorrPath::Gpu);
    }
    // The dispatched layer on an autodiff device is differentiable, and a mismatched pair of
    // inputs is declined by the op (None) instead of reaching a kernel.
    let dims = [1, 2, 6, 5];
    let ad = flex.autodiff();
    let xt = tensor4(edgy_input(dims, 61), dims, &ad).require_grad();
    let out = xcorr(
        xt.clone(),
        tensor4(edgy_input(dims, 62), dims, &ad),
        &XcorrGeometry::default(),
    );
    assert!(xt.grad(&out.sum().backward()).is_some());
    let other = tensor4(edgy_input([1, 2, 6, 4], 63), [1, 2, 6, 4], &Device::flex());
    let x = tensor4(edgy_input(dims, 61), dims, &Device::flex());
    assert!(xcorr_op(x, other, &XcorrGeometry::default()).is_none());
}

/// Every parameter's gradient after one forward + backward of the whole network.
fn network_gradients(net: &XCorrNet, device: &Device) -> Vec<(&'static str, Vec<f32>)> {
    let dims = [2, 3, 160, 60];
    let n: usize = dims.iter().product();
    let a = tensor4(random_values(n, 71), dims, device);
    let b = tensor4(random_values(n, 72), dims, device);
    let logits = net.forward(a, b); // [2, 2]
    let wt: Tensor<2> =
        Tensor::from_data(TensorData::new(vec![0.7, -1.3, 0.4, 2.0], [2, 2]), device);
    let grads = (logits * wt).sum().backward();
    let g4 = |t: Tensor<4>| to_vec(t.grad(&grads).expect("parameter gradient"));
    let g2 = |t: Tensor<2>| to_vec(t.grad(&grads).expect("parameter gradient"));
    let g1 = |t: Tensor<1>| to_vec(t.grad(&grads).expect("parameter gradient"));
    vec![
        ("conv1.weight", g4(net.conv1.weight.val())),
        ("conv1.bias", g1(net.conv1.bias.val())),
        ("conv2.weight", g4(net.conv2.weight.val())),
        ("conv2.bias", g1(net.conv2.bias.val())),
        ("head_conv1.weight", g4(net.head_conv1.weight.val())),
        ("head_conv1.bias", g1(net.head_conv1.bias.val())),
        ("head_conv3.weight", g4(net.head_conv3.weight.val())),
        ("head_conv3.bias", g1(net.head_conv3.bias.val())),
        ("fc1.weight", g2(net.fc1.weight.val())),
        ("fc1.bias", g1(net.fc1.bias.val())),
        ("fc2.weight", g2(net.fc2.weight.val())),
        ("fc2.bias", g1(net.fc2.bias.val())),
    ]
}

#[test]
fn training_step_gradients_match_with_op_and_reference() {
    let ad = Device::flex().autodiff();
    let net = XCorrNet::init(&ModelConfig::default(), 5, &Device::flex())
        .expect("default config")
        .fork(&ad)
        .train();
    let with_op = network_gradients(&net, &ad);
    let with_reference = with_reference_path(|| network_gradients(&net, &ad));
    for ((name, got), (_, want)) in with_op.iter().zip(&with_reference) {
        let err = rel_l2(got, want);
        eprintln!("{name}: relative L2 error {err:.2e}");
        assert!(
            err < 1e-4,
            "{name}: op vs reference relative L2 error {err}"
        );
    }
}

#[test]
fn fused_inference_head_matches_the_unfused_layers() {
    use reid_explorer::model::xcorr::fused::xcorr_conv1x1;
    let flex = Device::flex();
    let net = XCorrNet::init(&ModelConfig::default(), 11, &flex).expect("default config");
    let dims = [3, 25, 37, 12];
    let fa = || tensor4(edgy_input(dims, 81), dims, &flex);
    let fb = || tensor4(edgy_input(dims, 82), dims, &flex);
    let params = || (net.head_conv1.weight.val(), net.head_conv1.bias.val());
    // The fused pass is taken on plain flex only.
    assert!(xcorr_conv1x1(fa(), fb(), params(), &net.geometry).is_some());
    assert!(with_reference_path(|| xcorr_conv1x1(fa(), fb(), params(), &net.geometry)).is_none());
    let ad = flex.clone().autodiff();
    let on_ad = |t: Tensor<4>| Tensor::from_data(t.into_data(), &ad);
    let ad_params = (on_ad(net.head_conv1.weight.val()), {
        let b = net.head_conv1.bias.val();
        Tensor::<1>::from_data(b.into_data(), &ad)
    });
    assert!(xcorr_conv1x1(on_ad(fa()), on_ad(fb()), ad_params, &net.geometry).is_none());
    // Same maps and logits as correlation -> ReLU -> 1x1 convolution through the reference.
    let fused = to_vec(net.head_conv1_from_features(fa(), fb()));
    let unfused = with_reference_path(|| to_vec(net.head_conv1_from_features(fa(), fb())));
    let err = rel_l2(&fused, &unfused);
    assert!(err < 1e-5, "head conv1 maps: relative L2 error {err}");
    let fused = to_vec(net.forward_features(fa(), fb()));
    let unfused = with_reference_path(|| to_vec(net.forward_features(fa(), fb())));
    assert!(max_abs(&fused, &unfused) < 1e-4, "{fused:?} vs {unfused:?}");
}

/// Forward and the three gradients of `sum(conv(x) * wt)` with the conv op and with burn's
/// conv2d (reference path), on `device`'s autodiff twin.
fn conv_op_matches_burn_conv_on(device: &Device, label: &str) {
    use reid_explorer::model::conv::conv_valid;
    let ad = device.clone().autodiff();
    for (xd, wd) in [
        ([2, 3, 14, 21], [5, 3, 5, 5]),
        ([1, 4, 9, 12], [13, 4, 3, 3]),
        ([3, 6, 5, 7], [2, 6, 1, 1]),
    ] {
        let run = || {
            let x = tensor4(random_values(xd.iter().product(), 1), xd, &ad).require_grad();
            let w = tensor4(random_values(wd.iter().product(), 2), wd, &ad).require_grad();
            let b = Tensor::<1>::from_data(TensorData::new(random_values(wd[0], 3), [wd[0]]), &ad)
                .require_grad();
            let out = conv_valid(x.clone(), w.clone(), b.clone());
            let dims = out.dims();
            let wt = tensor4(random_values(dims.iter().product(), 4), dims, &ad);
            let grads = (out.clone() * wt).sum().backward();
            let g4 = |t: &Tensor<4>| to_vec(t.grad(&grads).expect("gradient"));
            let gb = to_vec(b.grad(&grads).expect("gradient"));
            [to_vec(out), g4(&x), g4(&w), gb]
        };
        let op = run();
        let reference = with_reference_path(run);
        for (name, (got, want)) in ["out", "dx", "dw", "db"]
            .iter()
            .zip(op.iter().zip(&reference))
        {
            let err = rel_l2(got, want);
            assert!(
                err < 1e-5,
                "{label} {xd:?}*{wd:?} {name}: relative L2 error {err}"
            );
        }
    }
}

#[test]
fn flex_conv_op_matches_burn_conv_and_gradients() {
    conv_op_matches_burn_conv_on(&Device::flex(), "flex");
}

#[test]
fn wgpu_conv_op_matches_burn_conv_and_gradients() {
    let Some(gpu) = gpu_device() else { return };
    conv_op_matches_burn_conv_on(&gpu, "wgpu");
}

/// Forward and input gradient of `sum(max_pool2(relu(x)) * wt)` with the pool op and with
/// burn's `max_pool2d` (reference path): bit-identical, ties included (the ReLU makes windows
/// of zeros, where both rules pick the first element).
fn pool_op_matches_burn_pool_on(device: &Device, label: &str) {
    use reid_explorer::model::pool::max_pool2;
    let ad = device.clone().autodiff();
    for (seed, xd) in [[2, 3, 8, 6], [1, 2, 7, 5], [2, 25, 35, 10]]
        .into_iter()
        .enumerate()
    {
        let run = || {
            let x =
                tensor4(random_values(xd.iter().product(), seed as u64), xd, &ad).require_grad();
            let out = max_pool2(burn::tensor::activation::relu(x.clone()));
            let dims = out.dims();
            assert_eq!(dims, [xd[0], xd[1], xd[2] / 2, xd[3] / 2]);
            let wt = tensor4(random_values(dims.iter().product(), 9), dims, &ad);
            let grads = (out.clone() * wt).sum().backward();
            [to_vec(out), to_vec(x.grad(&grads).expect("gradient"))]
        };
        let [out, dx] = run();
        let [want_out, want_dx] = with_reference_path(run);
        assert_eq!(out, want_out, "{label} {xd:?}: pooled values");
        assert_eq!(dx, want_dx, "{label} {xd:?}: input gradient");
    }
}

#[test]
fn flex_pool_op_matches_burn_max_pool_and_gradient() {
    pool_op_matches_burn_pool_on(&Device::flex(), "flex");
}

#[test]
fn wgpu_pool_op_matches_burn_max_pool_and_gradient() {
    let Some(gpu) = gpu_device() else { return };
    pool_op_matches_burn_pool_on(&gpu, "wgpu");
}
