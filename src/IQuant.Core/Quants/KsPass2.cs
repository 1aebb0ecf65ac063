using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IQuant.Core.Quants;

/// <summary>
/// Element-wise part of pass 2 of the B6 types for one 32-value sub-block: indices bi(T, idl*x_j), and the products
/// (w*q)*x and (w*q)*q with q = f32(T[k]*l). No reduction happens here (the caller adds the products in the
/// reference order), so the SIMD and scalar forms give identical bits.
/// </summary>
internal static unsafe class KsPass2
{
    /// <summary>Fills idx[32], px[32] = (w*q)*x and pq[32] = (w*q)*q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Elements(KsTable tab, bool shifted, float* x, float* w, float idl, int l, byte* idx, float* px, float* pq,
        SimdLevel level)
    {
        if (level == SimdLevel.Avx512)
        {
            if (tab.N == 8) E512<KsFam3>(in shifted ? ref KsVTables.Iq3.S512 : ref KsVTables.Iq3.N512, x, w, idl, l, idx, px, pq);
            else if (tab.N == 16) E512<KsFam4>(in shifted ? ref KsVTables.Iq4.S512 : ref KsVTables.Iq4.N512, x, w, idl, l, idx, px, pq);
            else E512<KsFam5>(in shifted ? ref KsVTables.Iq5.S512 : ref KsVTables.Iq5.N512, x, w, idl, l, idx, px, pq);
            return;
        }
        if (level == SimdLevel.Avx2)
        {
            if (tab.N == 8) E256<KsFam3>(in shifted ? ref KsVTables.Iq3.S256 : ref KsVTables.Iq3.N256, x, w, idl, l, idx, px, pq);
            else if (tab.N == 16) E256<KsFam4>(in shifted ? ref KsVTables.Iq4.S256 : ref KsVTables.Iq4.N256, x, w, idl, l, idx, px, pq);
            else E256<KsFam5>(in shifted ? ref KsVTables.Iq5.S256 : ref KsVTables.Iq5.N256, x, w, idl, l, idx, px, pq);
            return;
        }
        var T = tab.ValuesI(shifted);
        for (int j = 0; j < 32; j++)
        {
            int k = tab.Bi(T, idl * x[j]);
            idx[j] = (byte)k;
            float q = T[k] * l;
            float u = w[j] * q;
            px[j] = u * x[j];
            pq[j] = u * q;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void E512<F>(ref readonly KsVTab512 t, float* x, float* w, float idl, int l, byte* idx, float* px, float* pq)
        where F : struct, IKsFamily
    {
        var vid = Vector512.Create(idl);
        var lf = Vector512.Create((float)l);
        for (int h = 0; h < 32; h += 16)
        {
            var xv = Vector512.Load(x + h);
            var a = vid * xv;
            var i = KsV.Guard(F.I(a, in t), a);
            var q = F.V(i, in t) * lf + Vector512<float>.Zero; // + 0 turns the -0 of T*0 into the +0 of the int product
            var u = Vector512.Load(w + h) * q;
            (u * xv).Store(px + h);
            (u * q).Store(pq + h);
            System.Runtime.Intrinsics.X86.Avx512F.ConvertToVector128Byte(i).Store(idx + h);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void E256<F>(ref readonly KsVTab256 t, float* x, float* w, float idl, int l, byte* idx, float* px, float* pq)
        where F : struct, IKsFamily
    {
        var vid = Vector256.Create(idl);
        var lf = Vector256.Create((float)l);
        Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
        for (int h = 0; h < 4; h++)
        {
            var xv = Vector256.Load(x + 8 * h);
            var a = vid * xv;
            var i = KsV.Guard(F.I(a, in t), a);
            var q = F.V(i, in t) * lf + Vector256<float>.Zero;
            var u = Vector256.Load(w + 8 * h) * q;
            (u * xv).Store(px + 8 * h);
            (u * q).Store(pq + 8 * h);
            if (h == 0) i0 = i; else if (h == 1) i1 = i; else if (h == 2) i2 = i; else i3 = i;
        }
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).AsByte().Store(idx);
    }
}
