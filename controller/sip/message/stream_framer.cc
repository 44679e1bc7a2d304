#include "controller/sip/message/stream_framer.h"
