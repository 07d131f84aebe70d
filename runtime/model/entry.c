/* entry.c - main() of a model executable: the compiled model's object
 * defines `sluice_main_model`; everything else is sl_main's. */
#include "sluice/model.h"

extern const sl_model_desc *const sluice_main_model;

int main(int argc, char **argv)
{
    return sl_main(sluice_main_model, argc, argv);
}
