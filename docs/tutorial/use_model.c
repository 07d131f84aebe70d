/* use_model.c - the tutorial's C program (docs/tutorial.md, step 12): open
 * the model with its default weights, set a threshold, run one input, read
 * the ledger. */
#include <stdio.h>
#include "tiny_ee.h"

int main(void)
{
    sl_error err;
    sl_model *m = tiny_ee_open(NULL, &err);   /* NULL: the default weights */
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float x[TINY_EE_IN_SIZE] = {0}, y[TINY_EE_OUT_SIZE];
    int32_t exits[1], slots[1];
    double flops[1];
    sl_ledger ledger = {1, exits, slots, flops};
    sl_model_set_threshold(m, "t1", 0.5f, &err);
    if (sl_model_run(m, 1, x, y, &ledger, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("exit %d, %.0f FLOPs\n", exits[0], flops[0]);
    sl_model_close(m);
    return 0;
}
