/* fake_entry.c - what the compiled model's object defines for --emit=exe:
 * the descriptor sluice_main's main() runs. */
#include "fake_model.h"

const sl_model_desc *const sluice_main_model = &fakenet_model;
