//! The lessons' live figures, each drawn from the current drawing and the
//! numbers the network computed for it (read back by the engine): the 3x3
//! kernel sliding over the input with its sum, the activations with this
//! drawing's inputs to one map, max and average pooling of a real map,
//! softmax with a temperature, and the curl line for `neuralpad serve`.
//! Each raises its flag (`crate::lessons::flags`) when the student has
//! done what the step asks.

use std::time::Duration;

use leptos::prelude::*;

use super::LessonState;
use crate::app::digits::DigitState;
use crate::app::i18n::Lang;
use crate::app::inside::{result, signed as num};
use crate::app::paint;
use crate::cpu::activation::activate;
use crate::lessons::{Figure, flags};
use crate::nn::spec::LayerKind;
use crate::shapes::Act;

/// Pixels of the input, 28 a side.
const SIDE: usize = 28;
/// Screen pixels per input pixel in the figures.
const ZOOM: f64 = 6.0;

/// Text by language: [English, 简体中文].
fn pick(lang: Lang, w: [&'static str; 2]) -> &'static str {
    match lang {
        Lang::En => w[0],
        Lang::Zh => w[1],
    }
}

#[component]
pub fn FigureView(
    figure: Figure,
    digits: DigitState,
    lessons: LessonState,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    match figure {
        Figure::ConvSlide => {
            view! { <ConvSlide digits=digits lessons=lessons lang=lang /> }.into_any()
        }
        Figure::Activations => {
            view! { <Activations digits=digits lessons=lessons lang=lang /> }.into_any()
        }
        Figure::Pooling => view! { <Pooling digits=digits lang=lang /> }.into_any(),
        Figure::Softmax => view! { <Softmax digits=digits lessons=lessons lang=lang /> }.into_any(),
        Figure::Curl => view! { <Curl digits=digits lessons=lessons lang=lang /> }.into_any(),
    }
}

/// The first layer's first kernel [3x3 or k x k], its bias and activation,
/// when the first layer is a convolution.
fn first_kernel(digits: &DigitState, k: usize) -> Option<(usize, Vec<f32>, f32, Act)> {
    let net = digits.net.get()?;
    let f = net.filters?;
    let act = match net.plan.layers.first()?.kind {
        LayerKind::Conv2d { activation, .. } => activation.act(),
        _ => return None,
    };
    let [o, c, side, _] = f.shape;
    let k = k.min(o.saturating_sub(1));
    let w = f
        .weight
        .get(k * c * side * side..(k * c + 1) * side * side)?
        .to_vec();
    Some((side, w, *f.bias.get(k)?, act))
}

/// Every pre-activation sum of kernel `k` over the input: [out * out].
fn sums(input: &[f32], side: usize, w: &[f32], b: f32) -> Vec<f32> {
    let out = SIDE + 1 - side;
    let mut s = Vec::with_capacity(out * out);
    for i in 0..out {
        for j in 0..out {
            let mut acc = b;
            for m in 0..side {
                for n in 0..side {
                    acc += input[(i + m) * SIDE + j + n] * w[m * side + n];
                }
            }
            s.push(acc);
        }
    }
    s
}

/// Paint `values` (side x side, 0..max) at ZOOM onto a canvas, `upto` of
/// them (row-major) and the rest blank, with the window at `mark` outlined.
fn paint_zoomed(
    canvas: &web_sys::HtmlCanvasElement,
    values: &[f32],
    side: usize,
    upto: usize,
    mark: Option<(usize, usize, usize)>,
) {
    let px = (side as f64 * ZOOM) as u32;
    canvas.set_width(px);
    canvas.set_height(px);
    let Some(ctx) = paint::context(canvas) else {
        return;
    };
    let max = values.iter().fold(0.0f32, |a, &b| a.max(b.abs())).max(1e-6);
    ctx.set_fill_style_str("#f4f4f4");
    ctx.fill_rect(0.0, 0.0, px as f64, px as f64);
    for (i, &v) in values.iter().enumerate().take(upto) {
        let [r, g, b] = paint::colour(v / max);
        ctx.set_fill_style_str(&format!("rgb({r},{g},{b})"));
        let (y, x) = ((i / side) as f64, (i % side) as f64);
        ctx.fill_rect(x * ZOOM, y * ZOOM, ZOOM, ZOOM);
    }
    if let Some((i, j, k)) = mark {
        ctx.set_stroke_style_str("#e00000");
        ctx.set_line_width(2.0);
        ctx.stroke_rect(
            j as f64 * ZOOM,
            i as f64 * ZOOM,
            k as f64 * ZOOM,
            k as f64 * ZOOM,
        );
    }
}

/// The kernel sliding over the input: where it is, the nine products and
/// their sum with the real numbers, and the output map filling in.
#[component]
fn ConvSlide(digits: DigitState, lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let at = RwSignal::new(0usize);
    let kernel = RwSignal::new(0usize);
    let playing = RwSignal::new(None::<IntervalHandle>);
    let stepped = RwSignal::new(0usize);
    let input_canvas = NodeRef::<leptos::html::Canvas>::new();
    let output_canvas = NodeRef::<leptos::html::Canvas>::new();
    let data = Memo::new(move |_| {
        let input = digits.pre.get()?.input;
        let (side, w, b, act) = first_kernel(&digits, kernel.get())?;
        let s = sums(&input, side, &w, b);
        Some((input.to_vec(), side, w, b, act, s))
    });
    let out_side = move || data.with(|d| d.as_ref().map_or(26, |d| SIDE + 1 - d.1));
    // Start where the ink begins: the first output whose window has ink.
    Effect::new(move |_| {
        if let Some((input, side, ..)) = data.get() {
            let o = SIDE + 1 - side;
            let first = (0..o * o)
                .find(|&p| {
                    (0..side * side)
                        .any(|t| input[(p / o + t / side) * SIDE + p % o + t % side] > 0.1)
                })
                .unwrap_or(0);
            at.set(first);
        }
    });
    Effect::new(move |_| {
        let Some((input, side, _, _, act, s)) = data.get() else {
            return;
        };
        let o = SIDE + 1 - side;
        let p = at.get().min(o * o - 1);
        if let Some(c) = input_canvas.get() {
            paint_zoomed(&c, &input, SIDE, SIDE * SIDE, Some((p / o, p % o, side)));
        }
        if let Some(c) = output_canvas.get() {
            let y: Vec<f32> = s.iter().map(|&v| activate(act.code(), v)).collect();
            paint_zoomed(&c, &y, o, p + 1, Some((p / o, p % o, 1)));
        }
    });
    let step = move || {
        let o = out_side();
        at.update(|a| *a = (*a + 1) % (o * o));
        stepped.update(|n| *n += 1);
        if stepped.get_untracked() >= 3 {
            lessons.raise(flags::CONV_STEPPED);
        }
    };
    let play = move |_| match playing.get_untracked() {
        Some(h) => {
            h.clear();
            playing.set(None);
        }
        None => {
            lessons.raise(flags::CONV_STEPPED);
            if let Ok(h) = set_interval_with_handle(step, Duration::from_millis(250)) {
                playing.set(Some(h));
            }
        }
    };
    on_cleanup(move || {
        if let Some(h) = playing.get_untracked() {
            h.clear();
        }
    });
    let formula = move || {
        let (input, side, w, b, act, s) = data.get()?;
        let o = SIDE + 1 - side;
        let p = at.get().min(o * o - 1);
        let (i, j) = (p / o, p % o);
        let products = (0..side * side)
            .map(|t| {
                format!(
                    "{}·{}",
                    num(input[(i + t / side) * SIDE + j + t % side]),
                    num(w[t])
                )
            })
            .collect::<Vec<_>>()
            .join(" + ");
        let y = activate(act.code(), s[p]);
        Some(format!(
            "y({i}, {j}) = {products} + {} = {} → {} → {}",
            num(b),
            result(s[p], 3),
            act.name(),
            result(y, 3)
        ))
    };
    let l = move |w| pick(lang.get(), w);
    view! {
        <div class="figure conv-slide">
            <div class="row">
                <figure>
                    <canvas id="conv-input" node_ref=input_canvas class="pixelated"
                        aria-label=move || l(["the 28×28 input with the kernel's window", "28×28 的输入与卷积核窗口"])></canvas>
                    <figcaption>{move || l(["input x, window 3×3", "输入 x，3×3 窗口"])}</figcaption>
                </figure>
                <figure>
                    <canvas id="conv-output" node_ref=output_canvas class="pixelated"
                        aria-label=move || l(["the feature map so far", "到目前为止的特征图"])></canvas>
                    <figcaption>{move || l(["output y, filled so far", "输出 y，已计算部分"])}</figcaption>
                </figure>
            </div>
            <p id="conv-formula" class="formula-terms" aria-live="polite"><code>{formula}</code></p>
            <div class="row">
                <button id="conv-play" type="button" on:click=play
                    aria-pressed=move || playing.get().is_some().to_string()>
                    {move || if playing.get().is_some() { l(["Pause", "暂停"]) } else { l(["Play", "播放"]) }}</button>
                <button id="conv-step" type="button" on:click=move |_| step()>{move || l(["Step", "单步"])}</button>
                <label>{move || l(["Kernel", "卷积核"])}" "
                    <input id="conv-kernel" type="number" min="0" max="31" prop:value=move || kernel.get().to_string()
                        on:change=move |ev| kernel.set(event_target_value(&ev).parse().unwrap_or(0)) />
                </label>
            </div>
            <p class="hint" hidden=move || data.with(Option::is_some)>{move || l(["Draw a digit to see the numbers.", "写一个数字就能看到这些数字。"])}</p>
        </div>
    }
}

/// One activation plotted over the range of this drawing's sums, with a
/// dot per unit of the first map (x: the sum, y: what the activation makes
/// of it).
#[component]
fn Activations(digits: DigitState, lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let shown = RwSignal::new(Act::Relu);
    let seen = RwSignal::new(vec![Act::Relu]);
    let sums_now = Memo::new(move |_| {
        let input = digits.pre.get()?.input;
        let (side, w, b, _) = first_kernel(&digits, 0)?;
        Some(sums(&input, side, &w, b))
    });
    let (wd, ht) = (320.0, 200.0);
    let plot = move || {
        let act = shown.get();
        let s = sums_now.get().unwrap_or_default();
        let lo = s.iter().copied().fold(-2.0f32, f32::min).max(-6.0);
        let hi = s.iter().copied().fold(2.0f32, f32::max).min(6.0);
        let (ylo, yhi) = match act {
            Act::Relu => (-0.2 * hi, hi),
            Act::Sigmoid => (-0.1, 1.1),
            _ => (-1.1, 1.1),
        };
        let x = move |v: f32| ((v - lo) / (hi - lo)) as f64 * wd;
        let y = move |v: f32| ht - ((v - ylo) / (yhi - ylo)) as f64 * ht;
        let curve = (0..=100)
            .map(|t| {
                let v = lo + (hi - lo) * t as f32 / 100.0;
                format!("{:.1},{:.1}", x(v), y(activate(act.code(), v)))
            })
            .collect::<Vec<_>>()
            .join(" ");
        // Every 7th unit: enough dots to see the spread, few enough to count.
        let dots = s
            .iter()
            .step_by(7)
            .filter(|v| (lo..=hi).contains(*v))
            .map(|&v| view! { <circle cx=x(v) cy=y(activate(act.code(), v)) r="3" class="dot" /> })
            .collect_view();
        // Ticks: the ends of the input axis, and the output's top (and
        // bottom for tanh), in the numbers of this drawing.
        let num = |v: f32| result(v, 1);
        let top = match act {
            Act::Relu => hi,
            _ => 1.0,
        };
        let bottom = (act == Act::Tanh).then_some(-1.0f32);
        view! {
            <line x1="0" x2=wd y1=y(0.0) y2=y(0.0) class="axis" />
            <line x1=x(0.0) x2=x(0.0) y1="0" y2=ht class="axis" />
            <text x="2" y=y(0.0) + 14.0 class="tick">{num(lo)}</text>
            <text x=wd - 2.0 y=y(0.0) + 14.0 class="tick" text-anchor="end">{num(hi)}</text>
            <text x=x(0.0) + 4.0 y=y(top) + 12.0 class="tick">{num(top)}</text>
            {bottom.map(|b| view! { <text x=x(0.0) + 4.0 y=y(b) - 4.0 class="tick">{num(b)}</text> })}
            <polyline points=curve class="curve" />
            {dots}
        }
    };
    let choose = move |a: Act| {
        shown.set(a);
        seen.update(|s| {
            if !s.contains(&a) {
                s.push(a);
            }
        });
        if seen.with_untracked(|s| s.len()) == 3 {
            lessons.raise(flags::ACTIVATIONS_ALL);
        }
    };
    let l = move |w| pick(lang.get(), w);
    view! {
        <div class="figure activations">
            <div class="row" role="group" aria-label=move || l(["Activation", "激活函数"])>
                {[Act::Relu, Act::Sigmoid, Act::Tanh].into_iter().map(|a| view! {
                    <button id=format!("act-{}", a.name()) type="button"
                        aria-pressed=move || (shown.get() == a).to_string()
                        on:click=move |_| choose(a)>{a.name()}</button>
                }).collect_view()}
            </div>
            <svg id="activation-plot" viewBox=format!("0 0 {wd} {ht}") role="img"
                aria-label=move || format!("{}: {}", shown.get().name(), l(["the curve and this drawing's sums of the first map", "曲线与这次手写在第一张特征图上的和"]))>
                {plot}
            </svg>
            <p class="hint">{move || l([
                "across: the sum a unit computed (its input); up: its output. Dots: units of the first feature map for your drawing.",
                "横轴：单元算出的和（它的输入）；纵轴：它的输出。圆点：你的手写在第一张特征图上的单元。",
            ])}</p>
        </div>
    }
}

/// 2x2 pooling of `map` (side x side) by max or mean, at stride 2.
fn pool(map: &[f32], side: usize, max: bool) -> Vec<f32> {
    let o = side / 2;
    let mut out = Vec::with_capacity(o * o);
    for i in 0..o {
        for j in 0..o {
            let w = [
                map[2 * i * side + 2 * j],
                map[2 * i * side + 2 * j + 1],
                map[(2 * i + 1) * side + 2 * j],
                map[(2 * i + 1) * side + 2 * j + 1],
            ];
            out.push(if max {
                w.iter().copied().fold(f32::MIN, f32::max)
            } else {
                w.iter().sum::<f32>() / 4.0
            });
        }
    }
    out
}

/// The first layer's busiest map for this drawing, and it pooled both ways.
#[component]
fn Pooling(digits: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let map = Memo::new(move |_| {
        let out = digits.out.get()?;
        let net = digits.net.get()?;
        let crate::nn::plan::Shape::Maps { c, h, .. } = net.plan.layers.first()?.output else {
            return None;
        };
        let maps = out.layers.first()?;
        let k = (0..c).max_by(|&a, &b| {
            let mean = |k: usize| maps[k * h * h..(k + 1) * h * h].iter().sum::<f32>();
            mean(a).total_cmp(&mean(b))
        })?;
        Some((k, h, maps.get(k * h * h..(k + 1) * h * h)?.to_vec()))
    });
    let canvases = [
        NodeRef::<leptos::html::Canvas>::new(),
        NodeRef::new(),
        NodeRef::new(),
    ];
    Effect::new(move |_| {
        let Some((_, h, m)) = map.get() else { return };
        let pooled = [m.clone(), pool(&m, h, true), pool(&m, h, false)];
        for (canvas, values) in canvases.iter().zip(&pooled) {
            if let Some(c) = canvas.get() {
                let side = if values.len() == h * h { h } else { h / 2 };
                paint::grid(&c, values, 1, side, 1);
            }
        }
    });
    let l = move |w| pick(lang.get(), w);
    let captions = [
        ["feature map {k}, 26×26", "特征图 {k}，26×26"],
        ["max pooling 2×2 → 13×13", "最大池化 2×2 → 13×13"],
        ["average pooling 2×2 → 13×13", "平均池化 2×2 → 13×13"],
    ];
    let ids = ["pool-map", "pool-max", "pool-avg"];
    view! {
        <div class="figure pooling row">
            {canvases.into_iter().zip(captions).zip(ids).map(|((node, cap), id)| view! {
                <figure>
                    <canvas id=id node_ref=node class="pixelated pool"></canvas>
                    <figcaption>{move || l(cap).replace("{k}", &map.with(|m| m.as_ref().map_or(0, |m| m.0)).to_string())}</figcaption>
                </figure>
            }).collect_view()}
        </div>
    }
}

/// The last layer's logits to probabilities, at a temperature the student
/// moves.
#[component]
fn Softmax(digits: DigitState, lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let temperature = RwSignal::new(1.0f32);
    let logits = Memo::new(move |_| {
        let out = digits.out.get()?;
        out.layers.last().filter(|l| !l.is_empty()).cloned()
    });
    let rows = move || {
        let z = logits.get()?;
        let t = temperature.get();
        let top = z.iter().copied().fold(f32::MIN, f32::max);
        // Shifted by the largest for the exponentials: the same fractions.
        let e: Vec<f32> = z.iter().map(|&v| ((v - top) / t).exp()).collect();
        let total: f32 = e.iter().sum();
        Some(
            z.iter()
                .zip(&e)
                .enumerate()
                .map(|(d, (&zi, &ei))| {
                    let p = ei / total;
                    view! {
                        <tr data-digit=d>
                            <th scope="row">{d}</th>
                            <td class="value">{result(zi, 2)}</td>
                            <td class="value">{format!("{:.3}", ei)}</td>
                            <td class="value">{format!("{:.1}%", 100.0 * p)}</td>
                        </tr>
                    }
                })
                .collect_view(),
        )
    };
    let l = move |w| pick(lang.get(), w);
    view! {
        <div class="figure softmax">
            <label>{move || l(["Temperature T", "温度 T"])}" "
                <input id="softmax-temperature" type="range" min="0.25" max="4" step="0.25"
                    prop:value=move || temperature.get().to_string()
                    on:input=move |ev| {
                        temperature.set(event_target_value(&ev).parse().unwrap_or(1.0));
                        lessons.raise(flags::SOFTMAX_TEMPERATURE);
                    } />
                " "<output for="softmax-temperature">{move || format!("{:.2}", temperature.get())}</output>
            </label>
            <table id="softmax-table">
                <thead><tr>
                    <th scope="col">{move || l(["digit", "数字"])}</th>
                    <th scope="col">"z"</th>
                    <th scope="col">"e^((z − max) / T)"</th>
                    <th scope="col">"p"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// The curl line that asks `neuralpad serve` about the current drawing.
#[component]
fn Curl(digits: DigitState, lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let line = move || {
        let input = digits.pre.get()?.input;
        let rows: Vec<String> = input
            .chunks(SIDE)
            .map(|r| {
                let v: Vec<String> = r
                    .iter()
                    .map(|&x| {
                        if x == 0.0 {
                            "0".into()
                        } else {
                            format!("{x:.2}")
                        }
                    })
                    .collect();
                format!("[{}]", v.join(","))
            })
            .collect();
        let server = digits.remote.address.get();
        let base = if server.trim().is_empty() {
            "http://127.0.0.1:8080".to_string()
        } else {
            server.trim().trim_end_matches('/').to_string()
        };
        Some(format!(
            "curl -s {base}/v1/digits/classify -H 'content-type: application/json' -d '{{\"pixels\": [{}]}}'",
            rows.join(",")
        ))
    };
    let note = RwSignal::new(false);
    let copy = move |_| {
        lessons.raise(flags::CURL_COPIED);
        note.set(true);
        if let (Some(text), Some(w)) = (line(), web_sys::window()) {
            let _ = w.navigator().clipboard().write_text(&text);
        }
    };
    let l = move |w| pick(lang.get(), w);
    view! {
        <div class="figure curl">
            <pre id="curl-line" tabindex="0" aria-label=move || l(["the curl line", "curl 命令"])>{line}</pre>
            <button id="curl-copy" type="button" on:click=copy disabled=move || line().is_none()>{move || l(["Copy the curl line", "复制 curl 命令"])}</button>
            <p class="hint" role="status" hidden=move || !note.get()>{move || l([
                "Copied. Paste it in a terminal where `neuralpad serve` runs: the answer is the same ten probabilities.",
                "已复制。把它粘贴到运行着 `neuralpad serve` 的终端：得到的是同样的十个概率。",
            ])}</p>
        </div>
    }
}
