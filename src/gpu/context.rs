//! Opening the GPU once: instance, adapter, device, queue, and a sink that
//! turns wgpu's asynchronous errors (validation, out of memory, device lost)
//! into [`Error`]s reported at the next read-back instead of panics.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Errors wgpu reported since the last read-back.
#[derive(Clone, Default)]
pub struct ErrorSink {
    inner: Arc<Mutex<SinkState>>,
}

#[derive(Default)]
struct SinkState {
    lost: Option<String>,
    errors: Vec<String>,
}

impl ErrorSink {
    fn push(&self, msg: String) {
        if let Ok(mut s) = self.inner.lock() {
            s.errors.push(msg);
        }
    }

    fn lose(&self, msg: String) {
        if let Ok(mut s) = self.inner.lock() {
            s.lost = Some(msg);
        }
    }

    /// The device-lost error if the device is gone (permanent), else the
    /// first error reported since the last call (then forgotten).
    pub fn take(&self) -> Result<()> {
        let Ok(mut s) = self.inner.lock() else {
            return Err(Error::Gpu("error sink poisoned".into()));
        };
        if let Some(lost) = &s.lost {
            return Err(Error::DeviceLost(lost.clone()));
        }
        match s.errors.drain(..).next() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    pub fn is_lost(&self) -> bool {
        self.inner.lock().map(|s| s.lost.is_some()).unwrap_or(true)
    }
}

pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub errors: ErrorSink,
}

impl Context {
    /// Finds an adapter (WebGPU in the browser; Vulkan, Metal or DX12
    /// natively, which on a machine without a GPU is Mesa's lavapipe) and
    /// opens a device with the adapter's own limits.
    pub async fn new() -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        // The kernels need at most 8 storage buffers per entry point and 8 KiB
        // of workgroup memory: WebGPU's defaults. Asking for the adapter's
        // own limits would only make the page fail on smaller devices.
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("neuralpad"),
                required_limits: wgpu::Limits::default(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Device(e.to_string()))?;
        let errors = ErrorSink::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e| sink.push(e.to_string())));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| sink.lose(format!("{reason:?}: {msg}")));
        Ok(Self {
            device,
            queue,
            info,
            errors,
        })
    }

    /// "Vulkan: llvmpipe (LLVM 15.0.6, 256 bits), software" or "WebGPU: unnamed adapter".
    pub fn describe(&self) -> String {
        let api = match self.info.backend {
            wgpu::Backend::BrowserWebGpu => "WebGPU".to_string(),
            other => format!("{other:?}"),
        };
        // Browsers may hide the adapter's description for privacy.
        let name = if self.info.name.is_empty() {
            "unnamed adapter"
        } else {
            &self.info.name
        };
        let kind = if self.info.device_type == wgpu::DeviceType::Cpu {
            ", software"
        } else {
            ""
        };
        format!("{api}: {name}{kind}")
    }
}
