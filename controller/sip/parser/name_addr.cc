#include "controller/sip/parser/name_addr.h"
