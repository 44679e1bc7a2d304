#include "controller/sip/parser/uri.h"
