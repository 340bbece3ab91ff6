//! Recording GPU work: the pipeline cache, the uniform ring that carries each
//! dispatch's `Params`, cached bind groups, one open command encoder, and the
//! single read-back that submits it all.
//!
//! Nothing here is created per step once a model has run once: pipelines
//! are cached by entry point, bind groups by (entry point, buffers), and
//! `Params` go into slots of one uniform buffer bound with a dynamic offset.

use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroU64;

use bytemuck::Pod;

use super::context::Context;
use super::kernels::{Access, Kernel, Workgroup};
use crate::error::{Error, Result};

/// Slots in the uniform ring; when they run out mid-step the recorded work
/// is submitted (no read-back) and the ring starts over.
const RING_SLOTS: u64 = 4096;
/// Bind groups kept before the cache is cleared: a model reuses a few dozen;
/// only changing batch sizes or reloading weights makes new ones.
const MAX_BIND_GROUPS: usize = 4096;
/// Most workgroups one dispatch dimension may have (WebGPU's limit).
const MAX_GROUPS: u32 = 65_535;

/// A buffer the kernels can bind, with an id that outlives wgpu's handle
/// equality rules: the bind-group cache key.
pub trait Bound {
    fn buffer(&self) -> &wgpu::Buffer;
    fn id(&self) -> u64;
}

/// How many workgroups a dispatch needs.
#[derive(Clone, Copy, Debug)]
pub enum Grid {
    /// One thread per item, `Kernel::workgroup` threads per group.
    Threads(u32),
    /// One workgroup per item (the conv gradient reductions).
    Groups(u32),
    /// Explicit (x, y) workgroups (the few-row dense product: outputs x rows).
    Tiles(u32, u32),
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

pub struct Recorder {
    pipelines: RefCell<HashMap<&'static str, Pipeline>>,
    modules: RefCell<HashMap<&'static str, wgpu::ShaderModule>>,
    bind_groups: RefCell<HashMap<(&'static str, Vec<u64>), wgpu::BindGroup>>,
    encoder: RefCell<Option<wgpu::CommandEncoder>>,
    ring: wgpu::Buffer,
    slot: u64,
    next_slot: RefCell<u64>,
    staging: RefCell<Vec<wgpu::Buffer>>,
}

impl Recorder {
    pub fn new(ctx: &Context) -> Self {
        let slot = ctx
            .device
            .limits()
            .min_uniform_buffer_offset_alignment
            .max(64) as u64;
        let ring = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params ring"),
            size: slot * RING_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            pipelines: RefCell::default(),
            modules: RefCell::default(),
            bind_groups: RefCell::default(),
            encoder: RefCell::default(),
            ring,
            slot,
            next_slot: RefCell::new(0),
            staging: RefCell::default(),
        }
    }

    /// Compile a kernel's pipeline now rather than at first use.
    pub fn prepare(&self, ctx: &Context, kernel: &'static Kernel) {
        if self.pipelines.borrow().contains_key(kernel.entry) {
            return;
        }
        let module = self
            .modules
            .borrow_mut()
            .entry(kernel.shader.name)
            .or_insert_with(|| {
                ctx.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.shader.name),
                        source: wgpu::ShaderSource::Wgsl(kernel.shader.source.into()),
                    })
            })
            .clone();
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        entries.extend(kernel.buffers.iter().map(|&(binding, access)| {
            wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }
        }));
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(kernel.entry),
                entries: &entries,
            });
        let pipeline_layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(kernel.entry),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let constants: &[(&str, f64)] = match kernel.workgroup {
            Workgroup::Override(n) => &[("WG", n as f64)],
            Workgroup::Fixed(_) => &[],
        };
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                cache: None,
            });
        self.pipelines
            .borrow_mut()
            .insert(kernel.entry, Pipeline { pipeline, layout });
    }

    /// Record one dispatch of `kernel` with `params` and `buffers` (in the
    /// order of `kernel.buffers`).
    pub fn dispatch<P: Pod>(
        &self,
        ctx: &Context,
        kernel: &'static Kernel,
        params: &P,
        buffers: &[&dyn Bound],
        grid: Grid,
    ) {
        debug_assert_eq!(buffers.len(), kernel.buffers.len(), "{}", kernel.entry);
        let (x, y) = match grid {
            Grid::Threads(n) => split(n.div_ceil(kernel.workgroup.threads())),
            Grid::Groups(n) => split(n),
            Grid::Tiles(x, y) => (x, y),
        };
        if x == 0 || y == 0 {
            return;
        }
        self.prepare(ctx, kernel);
        let offset = self.params_slot(ctx, bytemuck::bytes_of(params));
        let pipelines = self.pipelines.borrow();
        let pipe = &pipelines[kernel.entry];
        let key = (
            kernel.entry,
            buffers.iter().map(|b| b.id()).collect::<Vec<_>>(),
        );
        let mut groups = self.bind_groups.borrow_mut();
        if groups.len() >= MAX_BIND_GROUPS {
            groups.clear();
        }
        let group = groups.entry(key).or_insert_with(|| {
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &self.ring,
                    offset: 0,
                    size: NonZeroU64::new(self.slot),
                }),
            }];
            entries.extend(
                kernel
                    .buffers
                    .iter()
                    .zip(buffers)
                    .map(|(&(binding, _), b)| wgpu::BindGroupEntry {
                        binding,
                        resource: b.buffer().as_entire_binding(),
                    }),
            );
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry),
                layout: &pipe.layout,
                entries: &entries,
            })
        });
        let mut enc = self.encoder.borrow_mut();
        let enc = enc.get_or_insert_with(|| new_encoder(ctx));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(kernel.entry),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipe.pipeline);
        pass.set_bind_group(0, &*group, &[offset as u32]);
        pass.dispatch_workgroups(x, y, 1);
    }

    /// Zero a buffer, in order with the recorded dispatches.
    pub fn clear(&self, ctx: &Context, buffer: &wgpu::Buffer) {
        let mut enc = self.encoder.borrow_mut();
        enc.get_or_insert_with(|| new_encoder(ctx))
            .clear_buffer(buffer, 0, None);
    }

    /// Write host data into a buffer. `queue.write_buffer` takes effect before
    /// the next submission's commands, so work already recorded is submitted
    /// first: it must see the old contents.
    pub fn write(&self, ctx: &Context, buffer: &wgpu::Buffer, bytes: &[u8]) {
        self.submit(ctx);
        ctx.queue.write_buffer(buffer, 0, bytes);
    }

    /// Submit everything recorded so far, without waiting.
    pub fn submit(&self, ctx: &Context) {
        if let Some(enc) = self.encoder.borrow_mut().take() {
            ctx.queue.submit([enc.finish()]);
        }
        *self.next_slot.borrow_mut() = 0;
    }

    fn params_slot(&self, ctx: &Context, bytes: &[u8]) -> u64 {
        if *self.next_slot.borrow() == RING_SLOTS {
            self.submit(ctx);
        }
        let mut next = self.next_slot.borrow_mut();
        let offset = *next * self.slot;
        *next += 1;
        ctx.queue.write_buffer(&self.ring, offset, bytes);
        offset
    }

    /// Copy `buffers` (with their byte sizes) to one staging buffer, submit
    /// all recorded work, and return the bytes of each once mapped. The only
    /// place that waits for the GPU; on the web it yields to the browser.
    pub async fn read(
        &self,
        ctx: &Context,
        buffers: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Vec<u8>>> {
        ctx.errors.take()?;
        let total: u64 = buffers
            .iter()
            .map(|(_, n)| n.next_multiple_of(4))
            .sum::<u64>()
            .max(4);
        let staging = self.take_staging(ctx, total);
        {
            let mut enc = self.encoder.borrow_mut();
            let enc = enc.get_or_insert_with(|| new_encoder(ctx));
            let mut at = 0;
            for &(b, n) in buffers {
                let n = n.next_multiple_of(4);
                if n > 0 {
                    enc.copy_buffer_to_buffer(b, 0, &staging, at, n);
                }
                at += n;
            }
        }
        self.submit(ctx);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        let mapped = rx
            .await
            .map_err(|_| Error::DeviceLost("read-back was cancelled".into()))?;
        ctx.errors.take()?;
        mapped.map_err(|e| Error::Gpu(format!("mapping the read-back buffer: {e}")))?;
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Gpu(format!("reading the mapped buffer: {e}")))?;
            let mut at = 0usize;
            buffers
                .iter()
                .map(|&(_, n)| {
                    let v = view[at..at + n as usize].to_vec();
                    at += n.next_multiple_of(4) as usize;
                    v
                })
                .collect()
        };
        staging.unmap();
        self.staging.borrow_mut().push(staging);
        Ok(out)
    }

    /// A mappable buffer of at least `size` bytes from the pool. Two reads in
    /// flight at once (possible on the web) each get their own.
    fn take_staging(&self, ctx: &Context, size: u64) -> wgpu::Buffer {
        let mut pool = self.staging.borrow_mut();
        if let Some(i) = pool.iter().position(|b| b.size() >= size) {
            return pool.swap_remove(i);
        }
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: size.next_power_of_two(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

fn new_encoder(ctx: &Context) -> wgpu::CommandEncoder {
    ctx.device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("step"),
        })
}

/// Spread `groups` over x and y so that neither exceeds WebGPU's 65,535;
/// shaders rebuild the linear index as gid.x + gid.y * num_workgroups.x * WG.
fn split(groups: u32) -> (u32, u32) {
    if groups <= MAX_GROUPS {
        (groups, 1)
    } else {
        (MAX_GROUPS, groups.div_ceil(MAX_GROUPS))
    }
}
