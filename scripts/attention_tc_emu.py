#!/usr/bin/env python3
# Lane-level numpy emulation of kernels/attention_tc.cuh, for checking its fragment index math
# without a GPU: each kernel (fwd, bwd_dq, bwd_dkv) is transcribed by hand, line for line, with
# the same tiles, smem offsets, ldmatrix lane addresses, mma.m16n8k16 fragment layouts (per the
# PTX ISA), masks and online softmax, on float64 values, and compared with a plain float64
# attention. It checks the indexing, not the CUDA source itself (a transcription can diverge) nor
# 16-bit rounding, races or speed. Needs numpy; about 6 minutes on 2 cores:
#   python3 scripts/attention_tc_emu.py
import numpy as np, math, sys
L = np.arange(32); G = L // 4; T4 = L % 4
PAD = 8

def ldsm4(sm, addr, trans=False):
    regs = []
    for i in range(4):
        M = np.stack([sm[a:a + 8] for a in addr[8 * i:8 * i + 8]])
        regs.append(np.stack([M[2 * T4, G], M[2 * T4 + 1, G]], 1) if trans else np.stack([M[G, 2 * T4], M[G, 2 * T4 + 1]], 1))
    return regs

def mma(c, a, b0, b1):
    A = np.zeros((16, 16)); B = np.zeros((16, 8))
    for l in range(32):
        g, t = l // 4, l % 4
        A[g, 2*t:2*t+2] = a[0][l]; A[g+8, 2*t:2*t+2] = a[1][l]; A[g, 2*t+8:2*t+10] = a[2][l]; A[g+8, 2*t+8:2*t+10] = a[3][l]
        B[2*t:2*t+2, g] = b0[l]; B[2*t+8:2*t+10, g] = b1[l]
    C = A @ B
    c[:, 0] += C[G, 2*T4]; c[:, 1] += C[G, 2*T4+1]; c[:, 2] += C[G+8, 2*T4]; c[:, 3] += C[G+8, 2*T4+1]

def c_to_a(c0, c1):
    return [c0[:, 0:2].copy(), c0[:, 2:4].copy(), c1[:, 0:2].copy(), c1[:, 2:4].copy()]

def lanes(ld):
    a = (L & 15) * ld + (L >> 4) * 8
    b = ((L & 7) + (L >> 4) * 8) * ld + ((L >> 3) & 1) * 8
    bt = ((L & 7) + ((L >> 3) & 1) * 8) * ld + (L >> 4) * 8
    return a, b, bt

def load_tile(sm, off, src, b, r0, h, N, D, rows):
    ld = D + PAD
    for r in range(rows):
        row = r0 + r
        sm[off + r * ld: off + r * ld + D] = src[b, row, h] if row < N else 0.0

def quad(v, f):
    out = v.copy()
    for l in range(32):
        out[l] = f(v[4 * (l // 4):4 * (l // 4) + 4])
    return out

def tiles(D):
    fwd_bk = 32 if D >= 256 else 64
    dq_bk = 16 if D >= 256 else 32 if D >= 128 else 64
    dw = D // 2 if D >= 256 else D
    dkv_bk = 16 * 4 // (D // dw)
    dkv_bq = 16 if D >= 256 else 32 if D >= 128 else 64
    return fwd_bk, dq_bk, dw, dkv_bk, dkv_bq

LOG2E = 1.4426950408889634; LN2 = 0.6931471805599453
BQ = 64

def fwd(q, k, v, scale):
    B, T, H, D = q.shape; S, Hkv = k.shape[1], k.shape[2]
    BK = tiles(D)[0]; LD = D + PAD; NT = BK // 8; DT = D // 8; KS = D // 16
    out = np.full(q.shape, np.nan); lse = np.full((B, H, T), np.nan)
    la, lb, lbt = lanes(LD)
    for b in range(B):
        for h in range(H):
            hk = h // (H // Hkv)
            for bx in range((T + BQ - 1) // BQ):
                q0 = bx * BQ; off = S - T
                sm = np.zeros((BQ + 4 * BK) * LD)
                qs, ks, vs = 0, BQ * LD, BQ * LD + 2 * BK * LD
                ntiles = -(-min(S, q0 + BQ + off) // BK)
                load_tile(sm, qs, q, b, q0, h, T, D, BQ)
                load_tile(sm, ks, k, b, 0, hk, S, D, BK); load_tile(sm, vs, v, b, 0, hk, S, D, BK)
                st_w = [dict(o=np.zeros((DT, 32, 4)), m0=np.full(32, -np.inf), m1=np.full(32, -np.inf), l0=np.zeros(32), l1=np.zeros(32)) for _ in range(4)]
                sl2 = scale * LOG2E
                for it in range(ntiles):
                    st = it & 1; kv0 = it * BK
                    if it + 1 < ntiles:
                        load_tile(sm, ks + (st ^ 1) * BK * LD, k, b, kv0 + BK, hk, S, D, BK)
                        load_tile(sm, vs + (st ^ 1) * BK * LD, v, b, kv0 + BK, hk, S, D, BK)
                    for warp in range(4):
                        W = st_w[warp]; wq0 = q0 + warp * 16; row0 = wq0 + G; row1 = row0 + 8
                        if not (wq0 < T and kv0 <= wq0 + 15 + off): continue
                        qs_a = qs + warp * 16 * LD + la
                        k_b = ks + st * BK * LD + lb; v_bt = vs + st * BK * LD + lbt
                        s = np.zeros((NT, 32, 4))
                        for kk in range(KS):
                            a = ldsm4(sm, qs_a + kk * 16)
                            for j in range(0, NT, 2):
                                bb = ldsm4(sm, k_b + j * 8 * LD + kk * 16)
                                mma(s[j], a, bb[0], bb[1]); mma(s[j + 1], a, bb[2], bb[3])
                        need_mask = kv0 + BK > min(wq0 + off + 1, S)
                        mx0 = np.full(32, -np.inf); mx1 = np.full(32, -np.inf)
                        for j in range(NT):
                            for e in range(4):
                                x = s[j][:, e] * sl2
                                if need_mask:
                                    key = kv0 + j * 8 + 2 * T4 + (e & 1); row = row0 if e < 2 else row1
                                    x = np.where((key > row + off) | (key >= S), -np.inf, x)
                                s[j][:, e] = x
                                if e < 2: mx0 = np.maximum(mx0, x)
                                else: mx1 = np.maximum(mx1, x)
                        mn0 = np.maximum(W['m0'], quad(mx0, np.max)); mn1 = np.maximum(W['m1'], quad(mx1, np.max))
                        mu0 = np.where(mn0 == -np.inf, 0, mn0); mu1 = np.where(mn1 == -np.inf, 0, mn1)
                        c0 = np.exp2(W['m0'] - mu0); c1 = np.exp2(W['m1'] - mu1)
                        W['m0'], W['m1'] = mn0, mn1
                        s[:, :, 0:2] = np.exp2(s[:, :, 0:2] - mu0[None, :, None]); s[:, :, 2:4] = np.exp2(s[:, :, 2:4] - mu1[None, :, None])
                        W['l0'] = W['l0'] * c0 + s[:, :, 0:2].sum((0, 2)); W['l1'] = W['l1'] * c1 + s[:, :, 2:4].sum((0, 2))
                        W['o'][:, :, 0:2] *= c0[None, :, None]; W['o'][:, :, 2:4] *= c1[None, :, None]
                        for kk in range(BK // 16):
                            pa = c_to_a(s[2 * kk], s[2 * kk + 1])
                            for i in range(0, DT, 2):
                                bb = ldsm4(sm, v_bt + kk * 16 * LD + i * 8, trans=True)
                                mma(W['o'][i], pa, bb[0], bb[1]); mma(W['o'][i + 1], pa, bb[2], bb[3])
                for warp in range(4):
                    W = st_w[warp]; wq0 = q0 + warp * 16; row0 = wq0 + G; row1 = row0 + 8
                    l0 = quad(W['l0'], np.sum); l1 = quad(W['l1'], np.sum)
                    for i in range(DT):
                        col = i * 8 + 2 * T4
                        for l in range(32):
                            if row0[l] < T: out[b, row0[l], h, col[l]:col[l] + 2] = W['o'][i][l, 0:2] / l0[l]
                            if row1[l] < T: out[b, row1[l], h, col[l]:col[l] + 2] = W['o'][i][l, 2:4] / l1[l]
                    for l in range(32):
                        if T4[l] == 0:
                            if row0[l] < T: lse[b, h, row0[l]] = W['m0'][l] * LN2 + math.log(l0[l])
                            if row1[l] < T: lse[b, h, row1[l]] = W['m1'][l] * LN2 + math.log(l1[l])
    return out, lse

def bwd_dq(q, k, v, do, lse, delta, scale):
    B, T, H, D = q.shape; S, Hkv = k.shape[1], k.shape[2]
    BK = tiles(D)[1]; LD = D + PAD; NT = BK // 8; DT = D // 8; KS = D // 16
    dq = np.full(q.shape, np.nan)
    la, lb, lbt = lanes(LD)
    for b in range(B):
        for h in range(H):
            hk = h // (H // Hkv)
            for bx in range((T + BQ - 1) // BQ):
                q0 = bx * BQ; off = S - T
                sm = np.zeros((2 * BQ + 4 * BK) * LD)
                qs, dos = 0, BQ * LD; ks = 2 * BQ * LD; vs = ks + 2 * BK * LD
                ntiles = -(-min(S, q0 + BQ + off) // BK)
                load_tile(sm, qs, q, b, q0, h, T, D, BQ); load_tile(sm, dos, do, b, q0, h, T, D, BQ)
                load_tile(sm, ks, k, b, 0, hk, S, D, BK); load_tile(sm, vs, v, b, 0, hk, S, D, BK)
                acc = np.zeros((4, DT, 32, 4)); sl2 = scale * LOG2E
                for it in range(ntiles):
                    st = it & 1; kv0 = it * BK
                    if it + 1 < ntiles:
                        load_tile(sm, ks + (st ^ 1) * BK * LD, k, b, kv0 + BK, hk, S, D, BK)
                        load_tile(sm, vs + (st ^ 1) * BK * LD, v, b, kv0 + BK, hk, S, D, BK)
                    for warp in range(4):
                        wq0 = q0 + warp * 16; row0 = wq0 + G; row1 = row0 + 8
                        lse0 = np.where(row0 < T, lse[b, h, np.minimum(row0, T - 1)] * LOG2E, 0); lse1 = np.where(row1 < T, lse[b, h, np.minimum(row1, T - 1)] * LOG2E, 0)
                        dl0 = np.where(row0 < T, delta[b, h, np.minimum(row0, T - 1)], 0); dl1 = np.where(row1 < T, delta[b, h, np.minimum(row1, T - 1)], 0)
                        if not (wq0 < T and kv0 <= wq0 + 15 + off): continue
                        qs_a = qs + warp * 16 * LD + la; dos_a = dos + warp * 16 * LD + la
                        k_b = ks + st * BK * LD + lb; v_b = vs + st * BK * LD + lb; k_bt = ks + st * BK * LD + lbt
                        s = np.zeros((NT, 32, 4)); dp = np.zeros((NT, 32, 4))
                        for kk in range(KS):
                            aq = ldsm4(sm, qs_a + kk * 16); ado = ldsm4(sm, dos_a + kk * 16)
                            for j in range(0, NT, 2):
                                bb = ldsm4(sm, k_b + j * 8 * LD + kk * 16); mma(s[j], aq, bb[0], bb[1]); mma(s[j + 1], aq, bb[2], bb[3])
                                bb = ldsm4(sm, v_b + j * 8 * LD + kk * 16); mma(dp[j], ado, bb[0], bb[1]); mma(dp[j + 1], ado, bb[2], bb[3])
                        need_mask = kv0 + BK > min(wq0 + off + 1, S)
                        for j in range(NT):
                            for e in range(4):
                                hi = e >= 2
                                p = np.exp2(s[j][:, e] * sl2 - (lse1 if hi else lse0))
                                if need_mask:
                                    key = kv0 + j * 8 + 2 * T4 + (e & 1); row = row1 if hi else row0
                                    p = np.where((key > row + off) | (key >= S), 0, p)
                                s[j][:, e] = p * (dp[j][:, e] - (dl1 if hi else dl0))
                        for kk in range(BK // 16):
                            da = c_to_a(s[2 * kk], s[2 * kk + 1])
                            for i in range(0, DT, 2):
                                bb = ldsm4(sm, k_bt + kk * 16 * LD + i * 8, trans=True)
                                mma(acc[warp][i], da, bb[0], bb[1]); mma(acc[warp][i + 1], da, bb[2], bb[3])
                for warp in range(4):
                    wq0 = q0 + warp * 16; row0 = wq0 + G; row1 = row0 + 8
                    for i in range(DT):
                        col = i * 8 + 2 * T4
                        for l in range(32):
                            if row0[l] < T: dq[b, row0[l], h, col[l]:col[l] + 2] = acc[warp][i][l, 0:2] * scale
                            if row1[l] < T: dq[b, row1[l], h, col[l]:col[l] + 2] = acc[warp][i][l, 2:4] * scale
    return dq

def bwd_dkv(q, k, v, do, lse, delta, scale):
    B, T, H, D = q.shape; S, Hkv = k.shape[1], k.shape[2]
    _, _, DW, BK, BQT = tiles(D); NDW = D // DW; LD = D + PAD; NT = BQT // 8; DTW = DW // 8; KS = D // 16
    dk = np.full(k.shape, np.nan); dv = np.full(v.shape, np.nan)
    la, lb, lbt = lanes(LD); group = H // Hkv; off = S - T; sl2 = scale * LOG2E
    for b in range(B):
        for hk in range(Hkv):
            for bx in range((S + BK - 1) // BK):
                k0 = bx * BK
                sm = np.zeros((2 * BK + 4 * BQT) * LD)
                ks, vs = 0, BK * LD; qs = 2 * BK * LD; dos = qs + 2 * BQT * LD
                lse_s = np.zeros(2 * BQT); dl_s = np.zeros(2 * BQT)
                qstart = (max(0, k0 - off) // BQT) * BQT
                n_qt = -(-(T - qstart) // BQT); total = group * n_qt
                def issue(it):
                    st = it & 1; h = hk * group + it // n_qt; qt0 = qstart + (it % n_qt) * BQT
                    load_tile(sm, qs + st * BQT * LD, q, b, qt0, h, T, D, BQT)
                    load_tile(sm, dos + st * BQT * LD, do, b, qt0, h, T, D, BQT)
                    for e in range(BQT):
                        tq = qt0 + e
                        lse_s[st * BQT + e] = lse[b, h, tq] * LOG2E if tq < T else 0
                        dl_s[st * BQT + e] = delta[b, h, tq] if tq < T else 0
                load_tile(sm, ks, k, b, k0, hk, S, D, BK); load_tile(sm, vs, v, b, k0, hk, S, D, BK)
                issue(0)
                gk = np.zeros((4, DTW, 32, 4)); gv = np.zeros((4, DTW, 32, 4))
                for it in range(total):
                    st = it & 1; qt0 = qstart + (it % n_qt) * BQT
                    if it + 1 < total: issue(it + 1)
                    for warp in range(4):
                        kw = warp // NDW; col0 = (warp % NDW) * DW
                        wk0 = k0 + kw * 16; krow0 = wk0 + G; krow1 = krow0 + 8
                        if not (wk0 < S and qt0 + BQT - 1 + off >= wk0): continue
                        k_a = ks + kw * 16 * LD + la; v_a = vs + kw * 16 * LD + la
                        qst = qs + st * BQT * LD; dost = dos + st * BQT * LD
                        s = np.zeros((NT, 32, 4)); dp = np.zeros((NT, 32, 4))
                        for kk in range(KS):
                            ak = ldsm4(sm, k_a + kk * 16); av = ldsm4(sm, v_a + kk * 16)
                            for j in range(0, NT, 2):
                                bb = ldsm4(sm, qst + j * 8 * LD + kk * 16 + lb); mma(s[j], ak, bb[0], bb[1]); mma(s[j + 1], ak, bb[2], bb[3])
                                bb = ldsm4(sm, dost + j * 8 * LD + kk * 16 + lb); mma(dp[j], av, bb[0], bb[1]); mma(dp[j + 1], av, bb[2], bb[3])
                        need_mask = qt0 + BQT > T or wk0 + 15 > qt0 + off
                        for j in range(NT):
                            for e in range(4):
                                c = j * 8 + 2 * T4 + (e & 1)
                                p = np.exp2(s[j][:, e] * sl2 - lse_s[st * BQT + c])
                                if need_mask:
                                    tq = qt0 + c; tk = krow0 if e < 2 else krow1
                                    p = np.where((tq >= T) | (tk > tq + off), 0, p)
                                s[j][:, e] = p
                                dp[j][:, e] = p * (dp[j][:, e] - dl_s[st * BQT + c])
                        for kk in range(BQT // 16):
                            pa = c_to_a(s[2 * kk], s[2 * kk + 1]); da = c_to_a(dp[2 * kk], dp[2 * kk + 1])
                            for i in range(0, DTW, 2):
                                o = kk * 16 * LD + col0 + i * 8 + lbt
                                bb = ldsm4(sm, dost + o, trans=True); mma(gv[warp][i], pa, bb[0], bb[1]); mma(gv[warp][i + 1], pa, bb[2], bb[3])
                                bb = ldsm4(sm, qst + o, trans=True); mma(gk[warp][i], da, bb[0], bb[1]); mma(gk[warp][i + 1], da, bb[2], bb[3])
                for warp in range(4):
                    kw = warp // NDW; col0 = (warp % NDW) * DW
                    wk0 = k0 + kw * 16; krow0 = wk0 + G; krow1 = krow0 + 8
                    for i in range(DTW):
                        col = col0 + i * 8 + 2 * T4
                        for l in range(32):
                            for kr, sl in ((krow0[l], slice(0, 2)), (krow1[l], slice(2, 4))):
                                if kr < S:
                                    dk[b, kr, hk, col[l]:col[l] + 2] = gk[warp][i][l, sl] * scale
                                    dv[b, kr, hk, col[l]:col[l] + 2] = gv[warp][i][l, sl]
    return dk, dv

def reference(q, k, v, do, scale):
    B, T, H, D = q.shape; S, Hkv = k.shape[1], k.shape[2]; off = S - T
    out = np.zeros(q.shape); lse = np.zeros((B, H, T)); dq = np.zeros(q.shape); dk = np.zeros(k.shape); dv = np.zeros(v.shape)
    mask = np.arange(S)[None, :] <= np.arange(T)[:, None] + off
    for b in range(B):
        for h in range(H):
            hk = h // (H // Hkv)
            s = scale * q[b, :, h] @ k[b, :, hk].T
            s = np.where(mask, s, -np.inf); m = s.max(1, keepdims=True)
            e = np.exp(s - m); l = e.sum(1, keepdims=True); p = e / l
            out[b, :, h] = p @ v[b, :, hk]; lse[b, h] = (m + np.log(l))[:, 0]
            dpm = do[b, :, h] @ v[b, :, hk].T; dl = (do[b, :, h] * out[b, :, h]).sum(1, keepdims=True)
            ds = p * (dpm - dl)
            dq[b, :, h] = scale * ds @ k[b, :, hk]; dk[b, :, hk] += scale * ds.T @ q[b, :, h]; dv[b, :, hk] += p.T @ do[b, :, h]
    return out, lse, dq, dk, dv

def run(B, T, S, H, Hkv, D, amp=4.0, seed=0):
    r = np.random.default_rng(seed)
    q = amp * r.uniform(-1, 1, (B, T, H, D)); k = r.uniform(-1, 1, (B, S, Hkv, D)); v = r.uniform(-1, 1, (B, S, Hkv, D)); do = r.uniform(-1, 1, (B, T, H, D))
    scale = 1 / math.sqrt(D)
    ro, rl, rdq, rdk, rdv = reference(q, k, v, do, scale)
    o, l = fwd(q, k, v, scale)
    delta = np.einsum('bthd,bthd->bht', do, o)
    dq = bwd_dq(q, k, v, do, l, delta, scale)
    dk, dv = bwd_dkv(q, k, v, do, l, delta, scale)
    errs = {n: np.nanmax(np.abs(a - b_)) if not np.isnan(a).any() else float('nan') for n, a, b_ in (('out', o, ro), ('lse', l, rl), ('dq', dq, rdq), ('dk', dk, rdk), ('dv', dv, rdv))}
    print(f"B{B} T{T} S{S} H{H} Hkv{Hkv} D{D}:", {n: f"{e:.2e}" for n, e in errs.items()}, flush=True)
    assert all(e < 1e-9 for e in errs.values()), errs

if __name__ == '__main__':
    for args in [(1, 1, 1, 2, 1, 64), (1, 17, 17, 2, 1, 64), (1, 17, 40, 4, 2, 64), (2, 70, 70, 2, 2, 64), (1, 1, 77, 2, 1, 64),
                 (1, 130, 150, 2, 1, 64), (1, 20, 33, 2, 1, 128), (1, 70, 90, 4, 2, 128), (1, 17, 17, 2, 1, 256), (1, 40, 75, 4, 2, 256)]:
        run(*args)
    print("all ok")
