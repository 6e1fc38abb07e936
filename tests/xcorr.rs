//! The correlation layer: the tensor-op reference and the fast CPU path against the definition
//! (f64 loop), the golden vectors and finite differences; CPU / GPU parity.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use reid_explorer::model::xcorr::{
    XcorrGeometry, XcorrPath, path_for, xcorr, xcorr_cpu, xcorr_direct, xcorr_reference,
};

fn reference_on(device: &Device, x: &[f32], y: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let geo = XcorrGeometry::default();
    let out = xcorr_reference(
        tensor4(x.to_vec(), dims, device),
        tensor4(y.to_vec(), dims, device),
        &geo,
    );
    let [b, c, h, w] = dims;
    assert_eq!(out.dims(), [b, c * 5 * w, h, w]);
    to_vec(out)
}

#[test]
fn reference_matches_definition_on_random_inputs() {
    let geo = XcorrGeometry::default();
    for (seed, dims) in [
        (1, [2, 3, 9, 6]),
        (2, [1, 2, 5, 5]),
        (3, [1, 1, 12, 3]),
        (4, [3, 2, 7, 8]),
    ] {
        let x = edgy_input(dims, seed);
        let y = edgy_input(dims, seed + 100);
        let expect = xcorr_direct(&x, &y, dims, &geo);
        let got = reference_on(&Device::flex(), &x, &y, dims);
        let err = rel_l2(&got, &expect);
        assert!(err < 1e-5, "dims {dims:?}: relative L2 error {err}");
        assert!(got.iter().all(|v| v.is_finite() && v.abs() <= 1.0 + 1e-5));
    }
}

#[test]
fn definition_matches_golden_vectors() {
    let geo = XcorrGeometry::default();
    for case in ["small_2x3x9x6", "full_1x25x37x12"] {
        let Some(g) = golden(case) else { return };
        let out = xcorr_direct(&g.x, &g.y, g.dims, &geo);
        let err = rel_l2(&out, &g.out);
        assert!(err < 1e-6, "{case}: relative L2 error {err}");
    }
}

#[test]
fn reference_matches_golden_vectors_on_cpu() {
    for case in ["small_2x3x9x6", "full_1x25x37x12", "batch_4x25x37x12"] {
        let Some(g) = golden(case) else { return };
        let got = reference_on(&Device::flex(), &g.x, &g.y, g.dims);
        assert_eq!(g.out.len(), g.out_dims.iter().product::<usize>());
        let err = rel_l2(&got, &g.out);
        assert!(err < 1e-5, "{case}: relative L2 error {err}");
    }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    // loss = sum(out * w); d loss / d x and d loss / d y from autodiff against central
    // differences of the f64 definition.
    let geo = XcorrGeometry::default();
    let dims = [1, 2, 6, 5];
    let n: usize = dims.iter().product();
    let x = edgy_input(dims, 7);
    let y = edgy_input(dims, 8);
    let out_len = 2 * 5 * 5 * 6 * 5;
    let w = random_values(out_len, 9);
    let device = Device::flex().autodiff();
    let xt = tensor4(x.clone(), dims, &device).require_grad();
    let yt = tensor4(y.clone(), dims, &device).require_grad();
    let out = xcorr_reference(xt.clone(), yt.clone(), &geo);
    let wt: Tensor<4> = Tensor::from_data(TensorData::new(w.clone(), [1, 50, 6, 5]), &device);
    let grads = (out * wt).sum().backward();
    let gx = to_vec(xt.grad(&grads).expect("grad x"));
    let gy = to_vec(yt.grad(&grads).expect("grad y"));
    assert!(
        gx.iter().chain(&gy).all(|g| g.is_finite()),
        "no NaN from flat patches"
    );
    let loss = |x: &[f32], y: &[f32]| -> f64 {
        xcorr_direct(x, y, dims, &geo)
            .iter()
            .zip(&w)
            .map(|(o, w)| f64::from(*o) * f64::from(*w))
            .sum()
    };
    let h = 1e-2f32;
    // Points in the random channel (index n/2 + ...) where the loss is smooth.
    for i in [n / 2 + 3, n / 2 + 11, n - 4, n / 2 + 17] {
        for (which, g) in [(0, &gx), (1, &gy)] {
            let (mut xp, mut xm, mut yp, mut ym) = (x.clone(), x.clone(), y.clone(), y.clone());
            if which == 0 {
                xp[i] += h;
                xm[i] -= h;
            } else {
                yp[i] += h;
                ym[i] -= h;
            }
            let fd = (loss(&xp, &yp) - loss(&xm, &ym)) / (2.0 * f64::from(h));
            let an = f64::from(g[i]);
            assert!(
                (fd - an).abs() <= 2e-2 * (1.0 + fd.abs()),
                "input {which} element {i}: finite difference {fd} vs autodiff {an}"
            );
        }
    }
}

#[test]
fn reference_agrees_on_cpu_and_gpu() {
    let Some(gpu) = gpu_device() else { return };
    let dims = [2, 25, 37, 12];
    let x = edgy_input(dims, 21);
    let y = edgy_input(dims, 22);
    let cpu = reference_on(&Device::flex(), &x, &y, dims);
    let got = reference_on(&gpu, &x, &y, dims);
    let err = rel_l2(&got, &cpu);
    assert!(err < 1e-5, "cpu vs gpu relative L2 error {err}");
}

#[test]
fn cpu_path_matches_definition_and_golden() {
    let geo = XcorrGeometry::default();
    for (seed, dims) in [
        (31, [2, 3, 9, 6]),
        (32, [1, 2, 5, 5]),
        (33, [3, 4, 7, 8]),
        (34, [1, 1, 2, 3]),
    ] {
        let x = edgy_input(dims, seed);
        let y = edgy_input(dims, seed + 100);
        let err = rel_l2(
            &xcorr_cpu(&x, &y, dims, &geo),
            &xcorr_direct(&x, &y, dims, &geo),
        );
        assert!(err < 1e-5, "dims {dims:?}: relative L2 error {err}");
    }
    for case in ["small_2x3x9x6", "full_1x25x37x12", "batch_4x25x37x12"] {
        let Some(g) = golden(case) else { return };
        let err = rel_l2(&xcorr_cpu(&g.x, &g.y, g.dims, &geo), &g.out);
        assert!(err < 1e-5, "{case}: relative L2 error {err}");
    }
}

#[test]
fn dispatcher_uses_the_custom_op_on_flex_for_inference_and_training() {
    assert_eq!(path_for(&Device::flex()), XcorrPath::Cpu);
    assert_eq!(path_for(&Device::flex().autodiff()), XcorrPath::Cpu);
    let geo = XcorrGeometry::default();
    let dims = [2, 25, 37, 12];
    let x = edgy_input(dims, 41);
    let y = edgy_input(dims, 42);
    let dev = Device::flex();
    let fast = to_vec(xcorr(
        tensor4(x.clone(), dims, &dev),
        tensor4(y.clone(), dims, &dev),
        &geo,
    ));
    let reference = reference_on(&dev, &x, &y, dims);
    assert!(rel_l2(&fast, &reference) < 1e-5);
    // Autodiff tensors go through the op's backward and get gradients.
    let ad = dev.autodiff();
    let xt = tensor4(x, dims, &ad).require_grad();
    let out = xcorr(xt.clone(), tensor4(y, dims, &ad), &geo);
    let grads = out.sum().backward();
    assert!(xt.grad(&grads).is_some());
}
