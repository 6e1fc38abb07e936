//! [`XcorrOps`] for burn's flex (CPU) backend: the host kernels run directly on the flex
//! tensors' storage (no copy when a tensor is already contiguous f32), and the results are
//! handed to flex without a copy either.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, FloatDType, TensorData};

use super::cpu::xcorr_host_forward;
use super::cpu_backward::xcorr_cpu_backward;
use super::direct::XcorrGeometry;
use super::op::XcorrOps;
use super::reference::VAR_FLOOR;

/// A flex float tensor as contiguous f32 values on the host.
struct HostValues {
    tensor: FlexTensor,
    start: usize,
    end: usize,
}

impl HostValues {
    /// Casts to f32 and makes contiguous only when needed (otherwise zero-copy).
    fn new(tensor: FlexTensor) -> Self {
        let tensor = if tensor.dtype() == DType::F32 {
            tensor
        } else {
            Flex::float_cast(tensor, FloatDType::F32)
        };
        let tensor = if tensor.layout().contiguous_offsets().is_some() {
            tensor
        } else {
            tensor.to_contiguous()
        };
        // A freshly made contiguous tensor starts at 0 and spans its elements.
        let (start, end) = tensor
            .layout()
            .contiguous_offsets()
            .unwrap_or((0, tensor.layout().num_elements()));
        Self { tensor, start, end }
    }

    fn values(&self) -> &[f32] {
        &self.tensor.storage::<f32>()[self.start..self.end]
    }
}

/// `[B, C, H, W]` of a rank-4 tensor (zeros for any missing axis).
fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    let d = |i: usize| shape.get(i).copied().unwrap_or(0);
    [d(0), d(1), d(2), d(3)]
}

/// A flex tensor of `dtype` from f32 values (no copy for f32).
fn to_flex(values: Vec<f32>, shape: [usize; 4], dtype: DType) -> FlexTensor {
    let out = FlexTensor::from_data(TensorData::new(values, shape));
    match dtype {
        DType::F64 => Flex::float_cast(out, FloatDType::F64),
        DType::F16 => Flex::float_cast(out, FloatDType::F16),
        DType::BF16 => Flex::float_cast(out, FloatDType::BF16),
        _ => out,
    }
}

impl XcorrOps for Flex {
    fn xcorr_forward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> FloatTensor<Self> {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let out = xcorr_host_forward(xv.values(), yv.values(), dims, &geo, VAR_FLOOR);
        let [b, c, h, w] = dims;
        to_flex(out, [b, geo.depth(c, w), h, w], dtype) // [B, C*D*W, H, W]
    }

    fn xcorr_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geo: XcorrGeometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let dims = dims4(&x); // [B, C, H, W]
        let dtype = x.dtype();
        let (xv, yv) = (HostValues::new(x), HostValues::new(y));
        let gv = HostValues::new(grad); // [B, C*D*W, H, W]
        let (dx, dy) =
            xcorr_cpu_backward(xv.values(), yv.values(), gv.values(), dims, &geo, VAR_FLOOR);
        (to_flex(dx, dims, dtype), to_flex(dy, dims, dtype)) // [B, C, H, W] each
    }
}
