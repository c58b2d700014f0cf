using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// LoRA linear (PEFT, Conv1D layout): y = x W + b + (dropout(x) A^T) B^T * scaling, with the base weight W
    /// [in, out] and bias b [out] frozen, lora_A [r, in], lora_B [out, r]. Gradients go to x, A and B only; W
    /// and b must not require gradients (they are not inputs of the recorded op). The low-rank product is
    /// added straight into y by a GEMM with beta = 1: the only intermediate is t = dropout(x) A^T [.., r], and
    /// dropout's mask is a function of (<paramref name="seed"/>, index), so the dropped x is never stored.
    /// </summary>
    public static Tensor LoraLinear(Tensor x, Tensor weight, Tensor? bias, Tensor loraA, Tensor loraB, float scaling, float dropout, ulong seed)
        => LoraFn.Apply(x, new BaseWeight(weight, null), bias, loraA, loraB, scaling, dropout, seed);

    /// <summary>As above with the frozen base weight stored in fp16 (widened to fp32 as the GEMM reads it).</summary>
    public static Tensor LoraLinear(Tensor x, HalfTensor weight, Tensor? bias, Tensor loraA, Tensor loraB, float scaling, float dropout, ulong seed)
        => LoraFn.Apply(x, new BaseWeight(null, weight), bias, loraA, loraB, scaling, dropout, seed);

    /// <summary>A frozen fp32 or fp16 [in, out] weight: one GEMM entry point for both.</summary>
    readonly record struct BaseWeight(Tensor? F32, HalfTensor? F16)
    {
        public int[] Shape => F32?.Shape ?? F16!.Shape;
        public string Describe() => F32?.Describe() ?? F16!.Describe();
        public IBackend Device => F32?.Device ?? F16!.Device;

        /// <summary>C = op(A) op(W) (+ beta C) for one matrix W; with a bias (beta 0), C += bias as the GEMM stores C.</summary>
        public void Gemm(IBackend dev, DeviceBuffer<float> a, DeviceBuffer<float> c, in GemmShape s, Tensor? bias = null)
        {
            if (bias is not null)
            {
                if (F32 is not null) dev.GemmBias(a, F32.Buffer, bias.Buffer, c, s);
                else dev.GemmHalfBBias(a, F16!.Buffer, bias.Buffer, c, s);
            }
            else if (F32 is not null) dev.Gemm(a, F32.Buffer, c, s);
            else dev.GemmHalfB(a, F16!.Buffer, c, s);
        }
    }

    sealed class LoraFn : Function
    {
        // Saved only where a wanted gradient reads them: x for dA, A and W for dx, B for dA and dx.
        readonly Tensor? _x, _a, _b;
        readonly Tensor _t;
        readonly BaseWeight _w;
        readonly int _rows, _in, _out, _r;
        readonly float _scaling, _p;
        readonly ulong _seed;

        LoraFn(Tensor x, Tensor a, Tensor b, Tensor t, BaseWeight w, int rows, int inF, int outF, int r, float scaling, float p, ulong seed)
            : base("LoraLinear", x, a, b)
        {
            if (a.RequiresGrad) _x = Save(x);
            if (x.RequiresGrad) { _a = Save(a); w = w.F32 is null ? w : new BaseWeight(Save(w.F32), null); }
            if (a.RequiresGrad || x.RequiresGrad) _b = Save(b);
            _t = t; _w = w; _rows = rows; _in = inF; _out = outF; _r = r; _scaling = scaling; _p = p; _seed = seed;
        }

        public static Tensor Apply(Tensor x, BaseWeight w, Tensor? bias, Tensor a, Tensor b, float scaling, float p, ulong seed)
        {
            const string op = "LoraLinear";
            var dev = x.Device;
            Check.That(ReferenceEquals(w.Device, dev), op, $"base weight {w.Describe()} is on {w.Device.Name}, input {x.Describe()} on {dev.Name}");
            Check.SameDevice(op, x, a);
            Check.SameDevice(op, x, b);
            Check.Rank(op, x, 1);
            var ws = w.Shape;
            Check.That(ws.Length == 2, op, $"base weight must be [in, out], got {w.Describe()}");
            int inF = ws[0], outF = ws[1];
            Check.That(x.Dim(-1) == inF, op, $"input {x.Describe()} has last axis {x.Dim(-1)}, base weight {w.Describe()} expects {inF}");
            Check.That(a.Rank == 2 && a.Dim(1) == inF && a.Dim(0) > 0, op, $"lora_A must be [r, {inF}], got {a.Describe()}");
            int r = a.Dim(0);
            Check.That(b.Rank == 2 && b.Dim(0) == outF && b.Dim(1) == r, op, $"lora_B must be [{outF}, {r}] for lora_A {a.Describe()}, got {b.Describe()}");
            Check.That(p >= 0f && p < 1f, op, $"dropout must be in [0, 1), got {p}");
            Check.That(float.IsFinite(scaling), op, $"scaling must be finite, got {scaling}");
            Check.That(w.F32 is not { RequiresGrad: true }, op, $"base weight {w.Describe()} requires grad; LoRA trains only lora_A/lora_B (freeze it)");
            if (bias is not null)
            {
                Check.SameDevice(op, x, bias);
                Check.That(bias.Rank == 1 && bias.Dim(0) == outF, op, $"bias must be [{outF}], got {bias.Describe()}");
                Check.That(!bias.RequiresGrad, op, $"bias {bias.Describe()} requires grad; LoRA trains only lora_A/lora_B (freeze it)");
            }
            int rows = AsInt(op, x.Length / inF, "rows");
            var y = Tensor.Empty(dev, [.. x.Shape[..^1], outF]);
            w.Gemm(dev, x.Buffer, y.Buffer, GemmShape.Contiguous(1, rows, outF, inF), bias);
            // t = dropout(x) A^T, then y += scaling * t B^T in place (beta = 1): no [rows, out] temporary.
            var t = Scratch(dev, rows, r);
            dev.LoraDown(x.Buffer, a.Buffer, t.Buffer, rows, inF, r, p, seed);
            dev.Gemm(t.Buffer, b.Buffer, y.Buffer, GemmShape.Contiguous(1, rows, outF, r, transB: true, alpha: scaling, beta: 1f));
            if (!NeedsGrad(x, a, b)) { t.Dispose(); return y; }
            return new LoraFn(x, a, b, t, w, rows, inF, outF, r, scaling, p, seed).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            Tensor? dx = null, da = null, db = null;
            bool wantX = Parents[0].RequiresGrad, wantA = Parents[1].RequiresGrad, wantB = Parents[2].RequiresGrad;
            if (wantB)
            {
                // dB [out, r] = scaling g^T t.
                db = Tensor.Empty(dev, Parents[2].Shape);
                dev.Gemm(g.Buffer, _t.Buffer, db.Buffer, GemmShape.Contiguous(1, _out, _r, _rows, transA: true, alpha: _scaling));
            }
            if (wantA || wantX)
            {
                // dt [rows, r] = scaling g B: the gradient reaching the down-projection's output.
                using var dt = Tensor.Create(dev, [_rows, _r], scoped: false);
                dev.Gemm(g.Buffer, _b!.Buffer, dt.Buffer, GemmShape.Contiguous(1, _rows, _r, _out, alpha: _scaling));
                if (wantA)
                {
                    da = Tensor.Empty(dev, Parents[1].Shape);
                    dev.LoraGradA(_x!.Buffer, dt.Buffer, da.Buffer, _rows, _in, _r, _p, _seed);
                }
                if (wantX)
                {
                    // dx = g W^T (W stored [in, out], read transposed), then the low-rank share added in place.
                    dx = Tensor.Empty(dev, Parents[0].Shape);
                    _w.Gemm(dev, g.Buffer, dx.Buffer, GemmShape.Contiguous(1, _rows, _in, _out, transB: true));
                    dev.LoraGradX(_a!.Buffer, dt.Buffer, dx.Buffer, _rows, _in, _r, _p, _seed);
                }
            }
            return [dx, da, db];
        }

        protected override void ReleaseSaved() => _t.Dispose();
    }
}
