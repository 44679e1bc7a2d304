#include "controller/sip/message/message_editor.h"
