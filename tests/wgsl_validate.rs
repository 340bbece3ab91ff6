#![cfg(not(target_arch = "wasm32"))]
//! Every shader parsed and validated by naga, and the dispatch table in
//! src/gpu/kernels.rs checked against what each entry point really binds.
//! Needs no device, so a WGSL typo fails here first.

use neuralpad::gpu::kernels::{Access, KERNELS, SHADERS, Workgroup};

fn parse(name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}.wgsl does not validate: {e:?}"));
    (module, info)
}

#[test]
fn every_shader_validates() {
    for s in SHADERS {
        parse(s.name, s.source);
    }
}

#[test]
fn every_shader_file_is_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<String> = SHADERS.iter().map(|s| format!("{}.wgsl", s.name)).collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn dispatch_table_matches_each_entry_point() {
    for kernel in KERNELS {
        let (module, info) = parse(kernel.shader.name, kernel.shader.source);
        let (idx, ep) = module
            .entry_points
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == kernel.entry)
            .unwrap_or_else(|| {
                panic!("{} has no entry point {}", kernel.shader.name, kernel.entry)
            });
        let usage = info.get_entry_point(idx);
        let mut used: Vec<(u32, Option<Access>)> = module
            .global_variables
            .iter()
            .filter(|(h, _)| !usage[*h].is_empty())
            .filter_map(|(_, var)| {
                let binding = var.binding.as_ref()?;
                assert_eq!(
                    binding.group, 0,
                    "{}: everything lives in group 0",
                    kernel.entry
                );
                let access = match var.space {
                    naga::AddressSpace::Uniform => None,
                    naga::AddressSpace::Storage { access }
                        if access.contains(naga::StorageAccess::STORE) =>
                    {
                        Some(Access::ReadWrite)
                    }
                    naga::AddressSpace::Storage { .. } => Some(Access::Read),
                    other => panic!("{}: unexpected address space {other:?}", kernel.entry),
                };
                Some((binding.binding, access))
            })
            .collect();
        used.sort_by_key(|u| u.0);
        let mut want: Vec<(u32, Option<Access>)> = vec![(0, None)];
        want.extend(kernel.buffers.iter().map(|&(b, a)| (b, Some(a))));
        want.sort_by_key(|u| u.0);
        assert_eq!(
            used, want,
            "{}: bindings used by the shader vs the table",
            kernel.entry
        );

        match kernel.workgroup {
            Workgroup::Fixed(n) => assert_eq!(
                ep.workgroup_size.iter().product::<u32>(),
                n,
                "{} workgroup size",
                kernel.entry
            ),
            Workgroup::Override(_) => {
                assert!(
                    ep.workgroup_size_overrides.is_some(),
                    "{} should size its workgroup with `override WG`",
                    kernel.entry
                )
            }
        }
    }
}

#[test]
fn every_params_struct_matches_the_rust_side() {
    use neuralpad::params::LAYOUTS;
    let mut covered = Vec::new();
    for layout in LAYOUTS {
        assert_eq!(
            layout.size,
            4 * layout.fields.len(),
            "{}: every field is 4 bytes",
            layout.name
        );
        assert_eq!(
            layout.size % 16,
            0,
            "{}: uniforms want 16-byte multiples",
            layout.name
        );
        for &shader in layout.shaders {
            let source = SHADERS
                .iter()
                .find(|s| s.name == shader)
                .unwrap_or_else(|| panic!("{}: no shader {shader}", layout.name))
                .source;
            let (module, _) = parse(shader, source);
            let (_, ty) = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some("Params"))
                .unwrap_or_else(|| panic!("{shader}.wgsl has no struct Params"));
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{shader}.wgsl: Params is not a struct");
            };
            let wgsl: Vec<(String, String)> = members
                .iter()
                .map(|m| {
                    let kind = match module.types[m.ty].inner {
                        naga::TypeInner::Scalar(naga::Scalar {
                            kind: naga::ScalarKind::Uint,
                            width: 4,
                        }) => "u32",
                        naga::TypeInner::Scalar(naga::Scalar {
                            kind: naga::ScalarKind::Float,
                            width: 4,
                        }) => "f32",
                        ref other => panic!("{shader}.wgsl: Params field of type {other:?}"),
                    };
                    (m.name.clone().unwrap_or_default(), kind.to_string())
                })
                .collect();
            let rust: Vec<(String, String)> = layout
                .fields
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect();
            assert_eq!(
                wgsl, rust,
                "{shader}.wgsl's Params against src/params.rs's {}",
                layout.name
            );
            assert_eq!(*span as usize, layout.size, "{shader}.wgsl's Params size");
            covered.push(shader);
        }
    }
    for s in SHADERS {
        assert!(
            covered.contains(&s.name),
            "{}.wgsl's Params has no Rust struct in src/params.rs",
            s.name
        );
    }
}
