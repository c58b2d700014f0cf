using System.Diagnostics;

namespace Cleft.Autograd;

/// <summary>
/// One recorded op, tinygrad-style: it remembers its parents and whatever it saved in the forward pass, and
/// turns the gradient of its output into gradients for its parents.
/// </summary>
public abstract class Function
{
    protected Function(string name, params Tensor[] parents)
    {
        Name = name;
        Parents = parents;
        InputShapes = string.Join(" x ", parents.Select(p => p.ShapeString));
    }

    /// <summary>Op name used in error messages (MatMul, LayerNorm, ...).</summary>
    public string Name { get; }
    public Tensor[] Parents { get; private set; }
    /// <summary>The input shapes, kept for messages after the graph is freed.</summary>
    public string InputShapes { get; }
    public bool Freed { get; private set; }

    /// <summary>
    /// Gradients for each parent (null where a parent needs none). A returned tensor becomes the engine's;
    /// returning <paramref name="gradOutput"/> itself is allowed (the engine copies if it needs to).
    /// </summary>
    protected internal abstract Tensor?[] Backward(Tensor gradOutput);

    // Handles from Save: what this op's backward reads, kept alive here rather than by the tensors' owners.
    List<Tensor>? _saved;

    /// <summary>
    /// Keeps <paramref name="t"/>'s data for <see cref="Backward"/>, as PyTorch's save_for_backward: a new handle on
    /// the same storage, so the caller may dispose t as soon as it no longer needs it (a Python variable going out
    /// of scope) and the data stay until this op is freed. The handle is scoped like any tensor, so a scope still
    /// reclaims it when backward never runs. Backward reads data only through saved handles or its own scratch;
    /// parents serve for shapes and <see cref="Tensor.RequiresGrad"/>, since their data may be gone.
    /// </summary>
    protected Tensor Save(Tensor t)
    {
        var handle = t.ViewAs(t.Shape);
        handle.Name = t.Name;
        (_saved ??= new List<Tensor>(4)).Add(handle);
        return handle;
    }

    /// <summary>Drops scratch the op made for its backward (saved handles go by themselves); called once backward is done with this op.</summary>
    protected virtual void ReleaseSaved() { }

    internal void Free()
    {
        ReleaseAll();
        Parents = [];
        Freed = true;
    }

    void ReleaseAll()
    {
        ReleaseSaved();
        if (_saved is null) return;
        foreach (var t in _saved) t.Dispose();
        _saved = null;
    }

    public override string ToString() => $"{Name}({InputShapes})";

    /// <summary>True when an op over these inputs must be recorded.</summary>
    public static bool NeedsGrad(params Tensor[] inputs)
    {
        if (!GradMode.Enabled) return false;
        foreach (var t in inputs) if (t.RequiresGrad) return true;
        return false;
    }

    /// <summary>Links <paramref name="output"/> to this op if any input needs a gradient; returns the output.</summary>
    /// <remarks>An op that is not recorded releases what it saved at once, so no-grad forwards hold nothing extra.</remarks>
    public Tensor Attach(Tensor output)
    {
        if (NeedsGrad(Parents))
        {
            output.Creator = this;
            output.RequiresGrad = true;
            ForwardProfile.Recorded(Name);
        }
        else ReleaseAll();
        return output;
    }
}

/// <summary>Turns gradient recording on and off for the current thread.</summary>
public static class GradMode
{
    [ThreadStatic] static int _disabled;

    public static bool Enabled => _disabled == 0;

    /// <summary>Within the returned scope no op is recorded (evaluation, optimizer updates).</summary>
    public static IDisposable NoGrad()
    {
        _disabled++;
        return new Restore();
    }

    sealed class Restore : IDisposable
    {
        bool _done;
        public void Dispose() { if (!_done) { _done = true; _disabled--; } }
    }
}

/// <summary>The backward pass: reverse topological order over the recorded graph.</summary>
public static class Autograd
{
    /// <param name="leafDone">
    /// Called for a leaf (with a gradient) as soon as the pass has visited every edge into it, so its gradient is
    /// final for this pass while the rest of the backward still runs: data parallel starts all-reducing it then.
    /// A leaf reached only through parts of the graph no gradient flowed into is never reported.
    /// </param>
    public static void Backward(Tensor root, Tensor? gradient, bool retainGraph, Action<Tensor>? leafDone = null)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException($"Backward: {root.Describe()} does not require grad (no input needed a gradient, or it was made under NoGrad)");
        if (root.Creator is { Freed: true } f)
            throw FreedError(f);
        if (gradient is null && root.Length != 1)
            throw new ArgumentException($"Backward: {root.Describe()} is not a scalar; pass the gradient of the output explicitly");
        if (gradient is not null) { Check.SameDevice("Backward", root, gradient); Check.SameShape("Backward", root, gradient); }

        var order = TopologicalOrder(root);
        // A backward that calls Ops on saved tensors must not record a new graph.
        using var noGrad = GradMode.NoGrad();
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        grads[root] = gradient is null ? Tensor.Ones(root.Device, root.Shape) : Ops.Copy(gradient, record: false);

        if (root.IsLeaf) { AccumulateLeaf(root, grads[root]); grads[root].Dispose(); return; }
        var profile = BackwardProfile.Active;
        var pending = leafDone is null ? null : LeafEdges(order);
        var pendingDone = new List<Tensor>(); // reported after the node's accumulation into them
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (!grads.Remove(node, out var gOut)) continue; // nothing flowed here
            var fn = node.Creator!;
            if (fn.Freed) throw FreedError(fn);
            long t0 = profile is null ? 0 : Stopwatch.GetTimestamp();
            var parentGrads = RunBackward(fn, gOut);
            long t1 = profile is null ? 0 : Stopwatch.GetTimestamp();
            bool gOutHandedOut = false;
            int lastOut = -1;
            for (int p = 0; p < fn.Parents.Length; p++)
                if (ReferenceEquals(parentGrads[p], gOut) && fn.Parents[p].RequiresGrad) lastOut = p;
            for (int p = 0; p < fn.Parents.Length; p++)
            {
                var parent = fn.Parents[p];
                var g = parentGrads[p];
                if (pending is not null && parent.IsLeaf && parent.RequiresGrad && --pending[parent] == 0 && (g is not null || parent.GradStorage is not null))
                    pendingDone.Add(parent);
                if (g is null || !parent.RequiresGrad) { if (g is not null && !ReferenceEquals(g, gOut)) g.Dispose(); continue; }
                if (!ShapeUtil.Same(g.Shape, parent.Shape))
                    throw new InvalidOperationException($"{fn.Name}: backward produced gradient {g.ShapeString} for input {parent.Describe()}");
                // gOut may serve several parents. Accumulating only reads it; storing it as a parent's own
                // gradient gives it away (later accumulation writes into it), so only its last use may do that.
                bool isOut = ReferenceEquals(g, gOut);
                if (parent.IsLeaf) { AccumulateLeaf(parent, g); if (!isOut) g.Dispose(); }
                else if (grads.TryGetValue(parent, out var existing)) { parent.Device.Axpy(1f, g.Buffer, existing.Buffer, g.Length); if (!isOut) g.Dispose(); }
                else
                {
                    if (isOut) { if (p < lastOut) g = Ops.Copy(gOut, record: false); else gOutHandedOut = true; }
                    grads[parent] = g;
                }
            }
            if (!gOutHandedOut) gOut.Dispose();
            if (!retainGraph) fn.Free();
            if (profile is not null)
            {
                long t2 = Stopwatch.GetTimestamp();
                profile.Add(fn.Name, t1 - t0);
                profile.Add(BackwardProfile.Accumulate, t2 - t1);
            }
            foreach (var leaf in pendingDone) leafDone!(leaf);
            pendingDone.Clear();
        }
        foreach (var g in grads.Values) g.Dispose();
    }

    static Tensor?[] RunBackward(Function fn, Tensor gOut)
    {
        try { return fn.Backward(gOut); }
        catch (ObjectDisposedException e)
        {
            // The op read a parent's data instead of a handle it saved, after the parent's owner disposed it.
            // The inner exception keeps the stack of the read; its message names the tensor.
            throw new ObjectDisposedException(
                $"{fn}: backward read a tensor that was disposed ({e.Message}); an op must Save what its backward reads", e);
        }
    }

    /// <summary>For each leaf that requires a gradient, the number of edges into it from the graph's functions.</summary>
    static Dictionary<Tensor, int> LeafEdges(List<Tensor> order)
    {
        var edges = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        foreach (var node in order)
            if (node.Creator is { } fn)
                foreach (var parent in fn.Parents)
                    if (parent.IsLeaf && parent.RequiresGrad) edges[parent] = edges.GetValueOrDefault(parent) + 1;
        return edges;
    }

    static void AccumulateLeaf(Tensor leaf, Tensor g)
    {
        var grad = leaf.GradStorage;
        if (grad is not null && !leaf.GradMarkedZero) { leaf.Device.Axpy(1f, g.Buffer, grad.Buffer, g.Length); return; }
        // First touch this step: write instead of zero-fill + add (same values: 0 + 1 * g is g exactly, up to the
        // sign of a zero). Leaf gradients outlive any scope: they belong to the leaf and are reused across steps.
        if (grad is null) { grad = Tensor.Create(leaf.Device, leaf.Shape, scoped: false); leaf.Grad = grad; }
        leaf.Device.CopyBlock(g.Buffer, 0, g.Length, grad.Buffer, 0, g.Length, 1, g.Length);
        leaf.GradMarkedZero = false;
    }

    static InvalidOperationException FreedError(Function f) => new(
        $"{f.Name}({f.InputShapes}): backward through a graph that was already freed by an earlier Backward(); " +
        "pass retainGraph: true to the first call to back-propagate twice");

    static List<Tensor> TopologicalOrder(Tensor root)
    {
        // Iterative DFS so deep graphs (long transformer stacks) cannot overflow the stack.
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor node, int next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            var parents = node.Creator?.Parents ?? [];
            if (node.Creator is { Freed: true } fn) throw FreedError(fn);
            if (next < parents.Length)
            {
                stack.Push((node, next + 1));
                var p = parents[next];
                if (p.RequiresGrad && visited.Add(p)) stack.Push((p, 0));
            }
            else order.Add(node);
        }
        return order;
    }
}
