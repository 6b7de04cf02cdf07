#pragma once
// Everything in augment/ in one include: the Image type, the Transform interface with
// Compose and the presets, every transform (deterministic and random forms) and the preview.
#include "augment/blur.h"
#include "augment/color.h"
#include "augment/geometry.h"
#include "augment/image.h"
#include "augment/normalize.h"
#include "augment/preview.h"
#include "augment/transform.h"
