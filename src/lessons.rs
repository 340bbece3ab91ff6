//! The page's lessons as data, following the seed document's chapters: each
//! a few steps, each step a part of the page to show and highlight, what to
//! read (English and 简体中文), an optional live figure, and a task that
//! completes when the student does it. The page (`crate::app::lessons`)
//! decides when a task is done and draws the figures from its live
//! numbers; no DOM here, so the content is checked natively.

use crate::link::Section;

/// A text in both languages: [English, 简体中文].
pub type Words = [&'static str; 2];

/// A predict-then-reveal question: the answer shows only after a guess.
pub struct Quiz {
    pub id: &'static str,
    pub question: Words,
    pub options: &'static [Words],
    pub answer: usize,
    pub reveal: Words,
}

/// A live figure in the lesson card, drawn from the current drawing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The 3x3 kernel sliding over the input, with the sum's real numbers.
    ConvSlide,
    /// ReLU, sigmoid and tanh with this drawing's inputs to one unit.
    Activations,
    /// Max and average pooling of one real feature map, side by side.
    Pooling,
    /// The last layer's logits to probabilities, with a temperature.
    Softmax,
    /// The curl line that asks `neuralpad serve` about this drawing.
    Curl,
}

/// What a step asks of the student; done once it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Nothing: reading is the task.
    Read,
    /// Any digit drawn (and read), or this one.
    Draw(Option<u8>),
    /// A preprocessing step switched off, or on.
    Centring(bool),
    /// A lesson figure reported this (stepped the kernel, looked at every
    /// activation, moved the temperature, copied the curl line).
    Flag(&'static str),
    /// The quiz of the step answered.
    Guess,
    /// The digit run has taken at least this many steps...
    TrainSteps(usize),
    /// ... with its loss lower at the end than at the start.
    LossFell(usize),
    /// At least this many characters typed in the text pad.
    Typed(usize),
}

/// The flags a lesson figure or part of the page raises for [`Task::Flag`].
pub mod flags {
    pub const CONV_STEPPED: &str = "conv-stepped";
    pub const ACTIVATIONS_ALL: &str = "activations-all";
    pub const SOFTMAX_TEMPERATURE: &str = "softmax-temperature";
    pub const LAB_TEXT: &str = "lab-text";
    pub const BACKPROP_WEIGHT: &str = "backprop-weight";
    pub const CURL_COPIED: &str = "curl-copied";
    pub const ALL: [&str; 6] = [
        CONV_STEPPED,
        ACTIVATIONS_ALL,
        SOFTMAX_TEMPERATURE,
        LAB_TEXT,
        CURL_COPIED,
        BACKPROP_WEIGHT,
    ];
}

pub struct Step {
    /// The part of the page the step is about; shown when the step opens.
    pub section: Section,
    /// The element highlighted (and focused), by id.
    pub target: Option<&'static str>,
    pub text: Words,
    /// What to do, when there is something to do.
    pub todo: Option<Words>,
    pub task: Task,
    pub figure: Option<Figure>,
    pub quiz: Option<Quiz>,
}

pub struct Lesson {
    /// In links: `#lessons&lesson=conv&step=2`.
    pub id: &'static str,
    pub title: Words,
    pub summary: Words,
    pub steps: &'static [Step],
}

impl Lesson {
    pub fn find(id: &str) -> Option<&'static Lesson> {
        LESSONS.iter().find(|l| l.id == id)
    }
}

const fn read(section: Section, target: Option<&'static str>, text: Words) -> Step {
    Step {
        section,
        target,
        text,
        todo: None,
        task: Task::Read,
        figure: None,
        quiz: None,
    }
}

pub static LESSONS: &[Lesson] = &[
    Lesson {
        id: "pixels",
        title: ["Pixels and preprocessing", "像素与预处理"],
        summary: [
            "What the network really reads: 784 numbers, made from your drawing the way MNIST's digits were made.",
            "网络真正读到的是什么：784 个数字，按照 MNIST 制作数字的方法由你的手写生成。",
        ],
        steps: &[
            Step {
                section: Section::Draw,
                target: Some("draw-canvas"),
                text: [
                    "This pad is 280×280 pixels. Draw a digit on it: the network answers while you draw.",
                    "这块画板有 280×280 个像素。在上面写一个数字：你一边写，网络一边回答。",
                ],
                todo: Some(["Draw a 3.", "写一个 3。"]),
                task: Task::Draw(Some(3)),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Draw,
                target: Some("model-input"),
                text: [
                    "The network never sees the pad. It sees this small picture: the ink cut out, fitted into 20×20 pixels and placed in a 28×28 field by its centre of mass, as MNIST's digits were.",
                    "网络从来看不到画板。它看到的是这张小图：把墨迹裁下来，缩放到 20×20 像素，再按质心放进 28×28 的区域，和 MNIST 的数字一样。",
                ],
                todo: None,
                task: Task::Guess,
                figure: None,
                quiz: Some(Quiz {
                    id: "how-many-numbers",
                    question: [
                        "How many numbers does the network read?",
                        "网络读取多少个数字？",
                    ],
                    options: &[["28", "28"], ["784", "784"], ["78,400", "78,400"]],
                    answer: 1,
                    reveal: [
                        "784: 28 × 28 values from 0 (paper) to 1 (ink). Everything after this is arithmetic on those numbers.",
                        "784 个：28 × 28 个取值，从 0（纸）到 1（墨）。之后的一切都是对这些数字的运算。",
                    ],
                }),
            },
            Step {
                section: Section::Draw,
                target: Some("step-center"),
                text: [
                    "Switch off centring and watch the input move: the digit is placed by the middle of its box instead of its centre of mass.",
                    "关掉“居中”，看输入如何移动：数字改为按外框的中点放置，而不是按质心。",
                ],
                todo: Some(["Switch off centring.", "关掉居中。"]),
                task: Task::Centring(false),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Draw,
                target: Some("step-center"),
                text: [
                    "The network learned from centred digits, so a shifted one can fool it. Switch centring back on.",
                    "网络是从居中的数字学来的，所以偏移的数字可能骗过它。把居中重新打开。",
                ],
                todo: Some(["Switch centring back on.", "重新打开居中。"]),
                task: Task::Centring(true),
                figure: None,
                quiz: None,
            },
        ],
    },
    Lesson {
        id: "conv",
        title: ["Convolution", "卷积"],
        summary: [
            "A 3×3 kernel slides over the picture; each output pixel is a sum of nine products.",
            "一个 3×3 的卷积核在图上滑动；每个输出像素是九个乘积之和。",
        ],
        steps: &[
            Step {
                section: Section::Inside,
                target: Some("draw-canvas"),
                text: [
                    "Draw a digit first: the lesson works on your own numbers.",
                    "先写一个数字：这一课用的是你自己的数字。",
                ],
                todo: Some(["Draw any digit.", "写任意一个数字。"]),
                task: Task::Draw(None),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Inside,
                target: Some("layer-0-maps"),
                text: [
                    "The first layer slides each of its kernels over the input. At each place: y_ij = Σ_m Σ_n x(i+m, j+n) · k(m, n) + b. Here is the first kernel on your drawing, with the real numbers.",
                    "第一层把每个卷积核在输入上滑动。每个位置上：y_ij = Σ_m Σ_n x(i+m, j+n) · k(m, n) + b。下面是第一个卷积核作用在你的手写上的真实数字。",
                ],
                todo: Some([
                    "Step the kernel three times (or play it).",
                    "让卷积核走三步（或播放）。",
                ]),
                task: Task::Flag(flags::CONV_STEPPED),
                figure: Some(Figure::ConvSlide),
                quiz: None,
            },
            Step {
                section: Section::Inside,
                target: Some("layer-0-maps"),
                text: [
                    "Each kernel makes one feature map. The picture is 28×28 and the kernel 3×3, with no padding.",
                    "每个卷积核生成一张特征图。图像是 28×28，卷积核是 3×3，没有填充。",
                ],
                todo: None,
                task: Task::Guess,
                figure: None,
                quiz: Some(Quiz {
                    id: "conv-size",
                    question: ["How big is each feature map?", "每张特征图有多大？"],
                    options: &[["28×28", "28×28"], ["26×26", "26×26"], ["9×9", "9×9"]],
                    answer: 1,
                    reveal: [
                        "26×26: the kernel fits 28 − 3 + 1 = 26 times across and down. Count the maps' pixels in the inside view.",
                        "26×26：卷积核横向和纵向都能放 28 − 3 + 1 = 26 次。可以在“内部”视图里数一数特征图的像素。",
                    ],
                }),
            },
            read(
                Section::Inside,
                Some("layer-0-filters"),
                [
                    "These are the kernels themselves, learned from data: red weights add ink, blue ones subtract it. Some respond to vertical strokes, some to edges. Draw a 1, then a 7, and watch which maps light up.",
                    "这些就是卷积核本身，都是从数据中学到的：红色的权重加上墨迹，蓝色的减去墨迹。有的对竖笔画有反应，有的对边缘有反应。先写一个 1，再写一个 7，看看哪些特征图亮起来。",
                ],
            ),
        ],
    },
    Lesson {
        id: "activations",
        title: [
            "Activations: ReLU, sigmoid, tanh",
            "激活函数：ReLU、sigmoid、tanh",
        ],
        summary: [
            "After each sum comes a bend: without it, many layers would be no better than one.",
            "每次求和之后都有一个“弯折”：没有它，多层网络并不比一层更强。",
        ],
        steps: &[
            Step {
                section: Section::Inside,
                target: Some("draw-canvas"),
                text: [
                    "Draw a digit: the plot shows the sums that the first map's units got from it.",
                    "写一个数字：图中显示第一张特征图的各个单元从中得到的和。",
                ],
                todo: Some(["Draw any digit.", "写任意一个数字。"]),
                task: Task::Draw(None),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Inside,
                target: None,
                text: [
                    "Each dot is one unit of the first feature map: across, the sum it computed; up, what the activation makes of it. ReLU keeps positive sums and zeroes the rest; sigmoid squeezes everything into (0, 1); tanh into (−1, 1).",
                    "每个点是第一张特征图中的一个单元：横轴是它算出的和，纵轴是激活函数的输出。ReLU 保留正数、把其余变成 0；sigmoid 把一切压进 (0, 1)；tanh 压进 (−1, 1)。",
                ],
                todo: Some(["Look at all three functions.", "三个函数都看一看。"]),
                task: Task::Flag(flags::ACTIVATIONS_ALL),
                figure: Some(Figure::Activations),
                quiz: None,
            },
            Step {
                section: Section::Inside,
                target: None,
                text: ["Now predict before you look.", "先预测，再看答案。"],
                todo: None,
                task: Task::Guess,
                figure: Some(Figure::Activations),
                quiz: Some(Quiz {
                    id: "relu-negative",
                    question: ["What is ReLU(−0.8)?", "ReLU(−0.8) 等于多少？"],
                    options: &[["0", "0"], ["−0.8", "−0.8"], ["0.31", "0.31"]],
                    answer: 0,
                    reveal: [
                        "0: ReLU(x) = max(0, x). A sigmoid would give 0.31, tanh −0.66. The model lab trains a sigmoid network beside the ReLU one: try it.",
                        "0：ReLU(x) = max(0, x)。sigmoid 会给出 0.31，tanh 是 −0.66。在模型实验室里可以让 sigmoid 网络和 ReLU 网络一起训练，试试看。",
                    ],
                }),
            },
        ],
    },
    Lesson {
        id: "pooling",
        title: ["Pooling: max and average", "池化：最大与平均"],
        summary: [
            "Each 2×2 window becomes one number: the largest, or the mean.",
            "每个 2×2 的窗口变成一个数：最大值，或平均值。",
        ],
        steps: &[
            Step {
                section: Section::Inside,
                target: Some("draw-canvas"),
                text: [
                    "Draw a digit with thin strokes, such as a 1 or a 7.",
                    "写一个笔画细的数字，比如 1 或 7。",
                ],
                todo: Some(["Draw any digit.", "写任意一个数字。"]),
                task: Task::Draw(None),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Inside,
                target: Some("layer-1-maps"),
                text: [
                    "Here is the first layer's busiest feature map for your drawing, pooled both ways: 26×26 becomes 13×13.",
                    "这是你的手写在第一层中最活跃的特征图，用两种方式池化：26×26 变成 13×13。",
                ],
                todo: None,
                task: Task::Guess,
                figure: Some(Figure::Pooling),
                quiz: Some(Quiz {
                    id: "pool-thin",
                    question: [
                        "Which keeps a thin stroke bright?",
                        "哪一种能让细笔画保持明亮？",
                    ],
                    options: &[
                        ["max pooling", "最大池化"],
                        ["average pooling", "平均池化"],
                        ["both the same", "两者一样"],
                    ],
                    answer: 0,
                    reveal: [
                        "Max pooling: one bright pixel in a window is enough. Average pooling spreads it over four, so a thin stroke fades. The seed's network uses max pooling; the lab can train one with average pooling beside it.",
                        "最大池化：窗口里只要有一个亮像素就够了。平均池化把它分摊到四个像素上，所以细笔画会变暗。种子网络用的是最大池化；在实验室里可以训练一个平均池化的网络和它对比。",
                    ],
                }),
            },
        ],
    },
    Lesson {
        id: "dense",
        title: ["Dense layers and softmax", "全连接层与 softmax"],
        summary: [
            "The last layer gives ten scores (logits); softmax turns them into probabilities.",
            "最后一层给出十个分数（logits）；softmax 把它们变成概率。",
        ],
        steps: &[
            Step {
                section: Section::Draw,
                target: Some("draw-canvas"),
                text: ["Draw a digit.", "写一个数字。"],
                todo: Some(["Draw any digit.", "写任意一个数字。"]),
                task: Task::Draw(None),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Draw,
                target: Some("probs"),
                text: [
                    "A dense layer multiplies every input by its own weight and adds them up, once per output. The last one gives a score z for each digit; softmax makes them probabilities: p_i = e^(z_i / T) / Σ_j e^(z_j / T). The network's own T is 1. Move the temperature and watch the bars of the table.",
                    "全连接层把每个输入乘以各自的权重再相加，每个输出一次。最后一层为每个数字给出一个分数 z；softmax 把它们变成概率：p_i = e^(z_i / T) / Σ_j e^(z_j / T)。网络自己的 T 是 1。拖动温度，看表中的数值如何变化。",
                ],
                todo: Some(["Move the temperature.", "拖动温度。"]),
                task: Task::Flag(flags::SOFTMAX_TEMPERATURE),
                figure: Some(Figure::Softmax),
                quiz: None,
            },
            Step {
                section: Section::Draw,
                target: Some("probs"),
                text: ["Predict before you look.", "先预测，再看答案。"],
                todo: None,
                task: Task::Guess,
                figure: Some(Figure::Softmax),
                quiz: Some(Quiz {
                    id: "softmax-shift",
                    question: [
                        "If every logit grows by 5, the probabilities…",
                        "如果每个 logit 都加上 5，概率会……",
                    ],
                    options: &[
                        ["stay the same", "保持不变"],
                        ["all grow", "全部变大"],
                        ["the largest grows", "最大的那个变大"],
                    ],
                    answer: 0,
                    reveal: [
                        "They stay the same: e^5 multiplies the top and the bottom of the fraction alike. Only differences between logits matter.",
                        "保持不变：e^5 同时乘到分子和分母上。只有 logit 之间的差才重要。",
                    ],
                }),
            },
        ],
    },
    Lesson {
        id: "training",
        title: ["Training: loss, gradient, Adam", "训练：损失、梯度与 Adam"],
        summary: [
            "The network learns by nudging every weight against its gradient, a batch at a time.",
            "网络通过沿梯度的反方向微调每个权重来学习，每次一批数据。",
        ],
        steps: &[
            Step {
                section: Section::Train,
                target: Some("td-from"),
                text: [
                    "A training step shows the network 32 digits, measures how wrong it is (the loss: −log of the probability it gave the right digit), works out each weight's gradient by backpropagation, and moves every weight a little (Adam). Start from random weights, a network that knows nothing, and take one step.",
                    "一次训练步骤给网络看 32 个数字，衡量它错得有多离谱（损失：它给正确数字的概率取 −log），用反向传播算出每个权重的梯度，再把每个权重移动一点（Adam）。从随机权重（什么都不懂的网络）开始，走一步试试。",
                ],
                todo: Some([
                    "Choose “random” weights, then press “One step”.",
                    "选择“随机”权重，然后按“单步”。",
                ]),
                task: Task::TrainSteps(1),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Train,
                target: Some("backprop"),
                text: [
                    "That step moved every weight. Here is how, for one of them: its gradient is a sum of products dy·x, one per image of the batch (and, in a convolution, per position): dy says how the loss changes with the layer's output, x is what the weight multiplied. Adam then turns the gradient into a small move, scaled by its running averages m and v. The numbers are the kernels' own, read back after the step.",
                    "刚才这一步移动了每个权重。以其中一个为例：它的梯度是一批图片上 dy·x 乘积之和（卷积层还要加上每个位置）：dy 表示损失随该层输出如何变化，x 是这个权重所乘的输入。然后 Adam 用它的滑动平均 m 和 v 把梯度变成一小步移动。这些数字都是内核自己算出、并在这一步之后读回的。",
                ],
                todo: Some([
                    "Point at a weight in one of the grids (or focus a grid and press an arrow key).",
                    "指向某个网格中的一个权重（或聚焦网格后按方向键）。",
                ]),
                task: Task::Flag(flags::BACKPROP_WEIGHT),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Train,
                target: Some("td-loss-chart"),
                text: ["Predict before you train.", "训练之前先预测。"],
                todo: None,
                task: Task::Guess,
                figure: None,
                quiz: Some(Quiz {
                    id: "loss-50",
                    question: [
                        "From random weights, what does the loss do over 50 steps?",
                        "从随机权重开始，50 步之内损失会怎样？",
                    ],
                    options: &[
                        ["it falls", "下降"],
                        ["it rises", "上升"],
                        ["it stays near 2.3", "停在 2.3 附近"],
                    ],
                    answer: 0,
                    reveal: [
                        "It falls, from about 2.3 (= ln 10, a blind guess among ten digits) towards 0.5. Watch it happen.",
                        "会下降：从约 2.3（= ln 10，在十个数字中盲猜）降到 0.5 左右。亲眼看看吧。",
                    ],
                }),
            },
            Step {
                section: Section::Train,
                target: Some("td-loss-chart"),
                text: [
                    "Press Resume and let it run 50 steps: the loss falls as the weights learn. Draw on the pad meanwhile: the network being trained answers.",
                    "按“继续”，让它跑 50 步：随着权重的学习，损失不断下降。同时在画板上写字：正在训练的网络会回答。",
                ],
                todo: Some([
                    "Train 50 steps and watch the loss fall.",
                    "训练 50 步，看损失下降。",
                ]),
                task: Task::LossFell(50),
                figure: None,
                quiz: None,
            },
        ],
    },
    Lesson {
        id: "rnn",
        title: ["From the RNN to the LSTM", "从 RNN 到 LSTM"],
        summary: [
            "A recurrent network reads one character at a time and carries a state: h_t = f(x_t, h_(t−1)).",
            "循环网络一次读一个字符，并携带一个状态：h_t = f(x_t, h_(t−1))。",
        ],
        steps: &[
            Step {
                section: Section::Text,
                target: Some("text-input"),
                text: [
                    "Type a sentence. After each character the model guesses the next one, using what it carried from the characters before.",
                    "输入一句话。每输入一个字符，模型都会根据之前字符留下的信息猜下一个字符。",
                ],
                todo: Some(["Type at least 12 characters.", "至少输入 12 个字符。"]),
                task: Task::Typed(12),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Text,
                target: Some("gate-heatmap"),
                text: [
                    "A plain RNN computes h_t = tanh(W x_t + U h_(t−1) + b): old memory is rewritten at every step. The LSTM adds a cell c_t and three gates: the forget gate f decides what of c_(t−1) to keep, the input gate i what to write, the output gate o what to show. This heatmap is the LSTM's gates and cell on your text, one column per character.",
                    "普通 RNN 计算 h_t = tanh(W x_t + U h_(t−1) + b)：每一步都会改写旧的记忆。LSTM 增加了一个细胞状态 c_t 和三个门：遗忘门 f 决定保留多少 c_(t−1)，输入门 i 决定写入什么，输出门 o 决定输出什么。这张热力图就是 LSTM 在你的文字上的各个门和细胞状态，每个字符一列。",
                ],
                todo: None,
                task: Task::Guess,
                figure: None,
                quiz: Some(Quiz {
                    id: "forget-gate",
                    question: [
                        "A forget gate near 1 means the cell…",
                        "遗忘门接近 1 时，细胞状态会……",
                    ],
                    options: &[
                        ["keeps what it had", "保留原有内容"],
                        ["is erased", "被清空"],
                        ["copies the input", "复制输入"],
                    ],
                    answer: 0,
                    reveal: [
                        "Keeps it: c_t = f · c_(t−1) + i · g. With f near 1 the memory flows on unchanged, which is how an LSTM remembers across many characters where a plain RNN forgets.",
                        "保留原有内容：c_t = f · c_(t−1) + i · g。f 接近 1 时记忆几乎不变地传下去，这就是 LSTM 能跨越很多字符记住信息、而普通 RNN 会遗忘的原因。",
                    ],
                }),
            },
            Step {
                section: Section::Lab,
                target: Some("lab-task-text"),
                text: [
                    "The lab trains a plain RNN beside the LSTM on the same text. Open it on text, press Train all, and compare their bits per character.",
                    "实验室可以在同一段文字上让普通 RNN 和 LSTM 一起训练。切换到文本任务，按“全部训练”，比较它们的每字符比特数。",
                ],
                todo: Some([
                    "Choose the text task in the lab.",
                    "在实验室中选择文本任务。",
                ]),
                task: Task::Flag(flags::LAB_TEXT),
                figure: None,
                quiz: None,
            },
        ],
    },
    Lesson {
        id: "service",
        title: ["Models as a service", "模型即服务"],
        summary: [
            "The same network answers over HTTP: `neuralpad serve`, asked by any program.",
            "同一个网络可以通过 HTTP 回答：运行 `neuralpad serve`，任何程序都能调用。",
        ],
        steps: &[
            Step {
                section: Section::Draw,
                target: Some("draw-canvas"),
                text: ["Draw a digit.", "写一个数字。"],
                todo: Some(["Draw any digit.", "写任意一个数字。"]),
                task: Task::Draw(None),
                figure: None,
                quiz: None,
            },
            Step {
                section: Section::Service,
                target: Some("where"),
                text: [
                    "Start `neuralpad serve` on a computer and any program can ask it, as this page can (switch “where the networks run” to the server). This is the question for your drawing: its 784 numbers as JSON.",
                    "在一台电脑上运行 `neuralpad serve`，任何程序都能向它提问，这个页面也可以（把“网络运行的位置”切换到服务器）。下面就是关于你的手写的请求：784 个数字组成的 JSON。",
                ],
                todo: Some(["Copy the curl line.", "复制 curl 命令。"]),
                task: Task::Flag(flags::CURL_COPIED),
                figure: Some(Figure::Curl),
                quiz: None,
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_is_whole_in_both_languages() {
        let mut ids = std::collections::BTreeSet::new();
        for l in LESSONS {
            assert!(ids.insert(l.id), "two lessons named {}", l.id);
            assert!(crate::link::Link::parse(&format!("#lessons&lesson={}", l.id)).is_ok());
            for w in [l.title, l.summary] {
                assert!(w.iter().all(|s| !s.trim().is_empty()), "{}", l.id);
            }
            assert!(!l.steps.is_empty());
            for (i, s) in l.steps.iter().enumerate() {
                let all = [Some(s.text), s.todo].into_iter().flatten();
                for w in all {
                    assert!(!w[0].is_empty() && !w[1].is_empty(), "{} step {i}", l.id);
                    assert!(
                        w[1].chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                            || w[1] == w[0],
                        "{} step {i}: no Chinese",
                        l.id
                    );
                }
                assert_eq!(s.quiz.is_some(), s.task == Task::Guess, "{} step {i}", l.id);
                if let Task::Flag(f) = s.task {
                    assert!(
                        flags::ALL.contains(&f),
                        "{} step {i}: no one raises {f}",
                        l.id
                    );
                }
                if let Some(q) = &s.quiz {
                    assert!(q.answer < q.options.len());
                }
            }
        }
    }
}
