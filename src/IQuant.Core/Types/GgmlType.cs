namespace IQuant.Core.Types;

/// <summary>ggml tensor type ids exactly as ik_llama.cpp numbers them (spec §2).</summary>
public enum GgmlType
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    Q4_0_4_4 = 31, Q4_0_4_8 = 32, Q4_0_8_8 = 33, I2_S = 36, MXFP4 = 39, Q1_0_G128 = 41,
    Q8_0_X4 = 97, Q8_1_X4 = 98, Q8_2_X4 = 99,
    Q6_0 = 133, IQ1_BN = 134, IQ2_BN = 135, Q8_K64 = 136,
    IQ2_K = 137, IQ3_K = 138, IQ4_K = 139, IQ5_K = 140, IQ6_K = 141,
    IQ4_KS = 144, IQ2_KS = 145, IQ4_KSS = 146, Q8_K16 = 147, Q8_K32 = 148, Q8_KR8 = 149, Q8_K128 = 150, Q8_KV = 151,
    IQ5_KS = 152, IQ2_KT = 153, IQ3_KT = 154, IQ4_KT = 155, IQ3_KS = 156, IQ2_KL = 157, IQ1_KT = 158,
    Q4_0_R8 = 202, Q5_0_R4 = 206, Q8_0_R8 = 208, Q2_K_R4 = 210, Q3_K_R4 = 211, Q4_K_R4 = 212, Q5_K_R4 = 213,
    Q6_K_R4 = 214, IQ2_XXS_R4 = 216, IQ2_XS_R4 = 217, IQ3_XXS_R4 = 218, IQ1_S_R4 = 219, IQ4_NL_R4 = 220,
    IQ3_S_R4 = 221, IQ2_S_R4 = 222, IQ4_XS_R8 = 223, IQ1_M_R4 = 229, BF16_R16 = 230, Q6_0_R4 = 233,
    IQ2_BN_R4 = 335, IQ2_K_R4 = 337, IQ3_K_R4 = 338, IQ4_K_R4 = 339, IQ5_K_R4 = 340, IQ4_KS_R4 = 344,
    IQ5_KS_R4 = 352, MXFP4_R8 = 353, Q8_K_R16 = 397, Q8_KV_R8 = 398, Q8_K_R8 = 399,
}
