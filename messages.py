"""Every text the customer or manager sees, and every command word.

Russian, warm and short. This module imports nothing from the project, so both
handlers.py and keyboard.py can use it without a cycle.
"""

# --- Command names carried in button payloads ({"cmd": ...}) -----------------
CMD_START = "start"
CMD_MENU = "menu"
CMD_HELP = "help"
CMD_CANCEL = "cancel"
CMD_BACK = "back"
CMD_HELLO = "hello"  # a typed greeting: continues a half-finished order instead of dropping it
CMD_SERVICES = "services"
CMD_ORDERS = "orders"
# Service order steps
CMD_PAGE = "page"
CMD_SERVICE = "service"
CMD_KEEP = "keep"
CMD_DEADLINE = "deadline"
CMD_CONTACT = "contact"
CMD_SEND = "send"
CMD_EDIT = "edit"
CMD_FIELD = "field"
# Table booking steps (paging and Send/Edit/field reuse CMD_PAGE, CMD_SEND, CMD_EDIT, CMD_FIELD)
CMD_BOOK = "book"
CMD_PARTY = "party"
CMD_TABLE_TYPE = "table_type"
CMD_DAY = "day"
CMD_SLOT = "slot"
CMD_ALL_TIMES = "times"  # from the nearest free times back to the day's full list
CMD_SAVED_CONTACT = "saved"
CMD_NEW_CONTACT = "new_contact"
# The customer's orders
CMD_ORDER_CANCEL = "cancel_order"
# Managers
CMD_DECIDE = "decide"
CMD_NO_REASON = "no_reason"
CMD_PENDING = "pending"
CMD_TODAY = "today"
CMD_STATS = "stats"
# A draft left half-way (drafts.py) and moving a booking (rescheduling.py)
CMD_RESUME = "resume"
CMD_RESTART = "restart"
CMD_MOVE = "move"
# A person when asked (handover.py)
CMD_HANDOVER = "person"
CMD_BOT_BACK = "bot_back"
ARG_USER = "u"
# Buttons sent by earlier versions still sit in people's chats: their codes mean the same.
LEGACY_COMMANDS = {"svc": CMD_SERVICE, "dl": CMD_DEADLINE, "ct": CMD_CONTACT, "ttype": CMD_TABLE_TYPE,
                   "newct": CMD_NEW_CONTACT, "ocancel": CMD_ORDER_CANCEL, "noreason": CMD_NO_REASON}

# Arguments carried in payloads beside "cmd" (short: VK allows 255 characters a payload).
ARG_KEY = "k"  # a service's key
ARG_PAGE = "p"
ARG_VALUE = "v"
ARG_FIELD = "f"
ARG_ORDER = "o"
ARG_DECISION = "d"
ARG_SURE = "y"  # a confirmed cancellation
DECISION_CONFIRM = "ok"
DECISION_REJECT = "no"
DEADLINE_ASAP = "asap"
DEADLINE_WEEK = "week"
DEADLINE_MONTH = "month"
CONTACT_VK = "vk"
CONTACT_PHONE = "phone"
FIELD_SERVICE = "service"
FIELD_TASK = "task"
FIELD_DEADLINE = "deadline"
FIELD_CONTACT = "contact"
FIELD_PARTY = "party"
FIELD_TABLE = "table"
FIELD_DAY = "day"
FIELD_TIME = "time"
FIELD_NAME = "name"
FIELD_PHONE = "phone"

# Typed words that mean the same as a button: a customer who types "Отмена" gets
# exactly what the Cancel button gives. Keys are compared lower-cased and stripped.
TYPED_COMMANDS = {
    "начать": CMD_START,
    "start": CMD_START,
    "старт": CMD_START,
    "привет": CMD_HELLO,
    "здравствуйте": CMD_HELLO,
    "добрый день": CMD_HELLO,
    "меню": CMD_MENU,
    "главное меню": CMD_MENU,
    "menu": CMD_MENU,
    "помощь": CMD_HELP,
    "справка": CMD_HELP,
    "help": CMD_HELP,
    "отмена": CMD_CANCEL,
    "отменить": CMD_CANCEL,
    "cancel": CMD_CANCEL,
    "назад": CMD_BACK,
    "back": CMD_BACK,
    "услуги": CMD_SERVICES,
    "забронировать столик": CMD_BOOK,
    "забронировать": CMD_BOOK,
    "бронь": CMD_BOOK,
    "столик": CMD_BOOK,
    "мои заказы": CMD_ORDERS,
    "заказы": CMD_ORDERS,
    "отправить": CMD_SEND,
    "изменить": CMD_EDIT,
    "оставить как есть": CMD_KEEP,
    "без причины": CMD_NO_REASON,
    "продолжить": CMD_RESUME,
    "начать заново": CMD_RESTART,
    # manager commands (only for MANAGER_IDS; for anyone else they are ordinary text)
    "заявки": CMD_PENDING,
    "сегодня": CMD_TODAY,
    "сводка": CMD_STATS,
}

# A typed «Отменить №24», «отменить 24», «отмена заказа №24»: the Cancel button of that order
# (matched against the lower-cased text, see dialogue.normalized; group 1 is the number).
TYPED_ORDER_CANCEL = r"(?:отменить|отмени|отмена)(?:\s+(?:заказ|заказа|бронь|брони))?\s*(?:№|#|номер)?\s*(\d{1,30})"

# Typed deadlines that mean the same as the deadline buttons.
DEADLINE_WORDS = {
    "как можно скорее": DEADLINE_ASAP,
    "срочно": DEADLINE_ASAP,
    "побыстрее": DEADLINE_ASAP,
    "на этой неделе": DEADLINE_WEEK,
    "в течение месяца": DEADLINE_MONTH,
}

# --- Button labels (VK allows 40 characters) --------------------------------
BTN_MENU = "Меню"
BTN_HELP = "Помощь"
BTN_CANCEL = "Отмена"
BTN_BACK = "Назад"
BTN_SERVICES = "Услуги"
BTN_BOOK = "Забронировать столик"
BTN_MY_ORDERS = "Мои заказы"
BTN_PENDING = "Заявки"
BTN_TODAY = "Сегодня"
BTN_STATS = "Сводка"
BTN_PREV = "« Предыдущие"
BTN_NEXT = "Следующие »"
BTN_KEEP = "Оставить как есть"
BTN_ASAP = "Как можно скорее"
BTN_WEEK = "На этой неделе"
BTN_MONTH = "В течение месяца"
BTN_CONTACT_VK = "Пишите мне во ВКонтакте"
BTN_CONTACT_PHONE = "Оставлю телефон"
BTN_SEND = "Отправить"
BTN_EDIT = "Изменить"
BTN_FIELD_SERVICE = "Услугу"
BTN_FIELD_TASK = "Описание задачи"
BTN_FIELD_DEADLINE = "Срок"
BTN_FIELD_CONTACT = "Контакт"
BTN_CONFIRM = "Подтвердить"
BTN_REJECT = "Отклонить"
BTN_NO_REASON = "Без причины"
BTN_CANCEL_ORDER = "Отменить №{id}"
BTN_SURE_CANCEL = "Да, отменить №{id}"
BTN_KEEP_ORDER = "Нет, оставить"
BTN_ALL_TIMES = "Другое время"
BTN_USE_CONTACT = "Использовать {phone} ({name})"
BTN_NEW_CONTACT = "Ввести другие"
BTN_FIELD_PARTY = "Гостей"
BTN_FIELD_TABLE = "Место"
BTN_FIELD_DAY = "Дату"
BTN_FIELD_TIME = "Время"
BTN_FIELD_NAME = "Имя"
BTN_FIELD_PHONE = "Телефон"
BTN_DAY = "{weekday} {date}"  # "Пт 19.06"
BTN_TODAY_DAY = "Сегодня {date}"
BTN_TOMORROW_DAY = "Завтра {date}"

# --- Texts -------------------------------------------------------------------
GREETING = (
    "Здравствуйте! 👋 Я помогу оформить заказ — выберите, что вам нужно, "
    "в меню ниже."
)
MENU = "Главное меню. Чем могу помочь?"
# Help names only the menu entries of the enabled scenarios; HELP is the text with both.
HELP_START = "Я бот сообщества. Выберите пункт меню кнопкой — я проведу по шагам.\n"
HELP_SERVICES = "«Услуги» — заказать услугу, "
HELP_BOOKING = "«Забронировать столик» — выбрать столик, дату и время, "
HELP_ORDERS = (
    "«Мои заказы» — посмотреть или отменить заказ или бронь.\n"
    "В любой момент можно написать «Меню», чтобы вернуться в начало, "
    "«Назад» — чтобы вернуться на шаг, или «Отмена», чтобы прервать оформление."
)
HELP = HELP_START + HELP_SERVICES + HELP_BOOKING + HELP_ORDERS
HELP_MANAGER = (
    "\n\nДля менеджеров: «Заявки» — заказы, ждущие решения, «Сегодня» — брони и заказы за сегодня, "
    "«Сводка» — сколько заказов в каждом статусе и последние рассылки, «Рассылка» — написать подписчикам."
)
WELCOME_BACK = "С возвращением! 👋 Продолжим с того места, где вы остановились."
NOT_UNDERSTOOD = (
    "Простите, я не совсем понял 🙏 Пожалуйста, выберите пункт меню кнопкой "
    "или напишите «Помощь»."
)
CANCELLED = "Хорошо, отменил. Возвращаю вас в главное меню."
NOTHING_TO_CANCEL = "Отменять нечего — вы в главном меню."
APOLOGY = (
    "Ой, у нас что-то пошло не так 😔 Уже разбираемся. "
    "Пожалуйста, попробуйте ещё раз чуть позже или напишите «Меню»."
)
SNACKBAR_OUTDATED = "Эта кнопка уже неактуальна"
# A button of another step pressed (an old message's): what was done already, then the question again.
BUTTON_OUTDATED = "Эта кнопка из прошлого сообщения и уже неактуальна 🙂"
STEP_DONE_ANY = "Этот шаг уже пройден 🙂"
STEP_DONE = {
    CMD_SERVICE: "Услуга уже выбрана 🙂",
    CMD_DEADLINE: "Срок уже выбран 🙂",
    CMD_CONTACT: "Способ связи уже выбран 🙂",
    CMD_PARTY: "Число гостей уже выбрано 🙂",
    CMD_TABLE_TYPE: "Место уже выбрано 🙂",
    CMD_DAY: "Дата уже выбрана 🙂",
    CMD_SLOT: "Время уже выбрано 🙂",
    CMD_ALL_TIMES: "Время уже выбрано 🙂",
}
ALREADY_SENT = "Это уже отправлено ✅ №{id} «{title}» — {status}. Всё видно в «Мои заказы»."
SNACKBAR_APOLOGY = "Что-то пошло не так, попробуйте ещё раз"

# --- Ordering a service --------------------------------------------------------
SERVICES_EMPTY = "Сейчас в каталоге нет доступных услуг — загляните, пожалуйста, чуть позже 🙏"
SERVICE_LIST = "Наши услуги{pages}. Выберите, что вам нужно 👇\n\n{lines}"
SERVICE_LIST_PAGES = " (стр. {page} из {pages})"
SERVICE_LINE = "• {title} — {price}"
SERVICE_UNAVAILABLE = "Эта услуга сейчас недоступна 😔 Выберите, пожалуйста, другую."
PRICE = "{amount} ₽"
PRICE_FROM = "от {amount} ₽"
SERVICE_CARD = "{title}\n{description}\n\nСтоимость: {price}"
SERVICE_CARD_DURATION = "\nСроки: {duration}"
NOW_GIVEN = "\n\nСейчас указано: {value}"
ASK_TASK = (
    "Опишите, пожалуйста, задачу: что нужно сделать и какой результат вы ждёте. "
    "Можно приложить фото или документы."
)
ASK_DEADLINE = "К какому сроку нужен результат? Выберите вариант или напишите дату, например 25.12 или «31 декабря»."
ASK_CONTACT = (
    "Как с вами связаться? Менеджер может написать вам здесь, во ВКонтакте, "
    "или позвонить — тогда оставьте номер телефона."
)
ASK_PHONE = "Напишите, пожалуйста, номер телефона, например +7 912 345-67-89."
SUMMARY = "Проверьте, пожалуйста, заказ:\n\n{details}\n\nВсё верно? Нажмите «Отправить»."
TASK_CUT_NOTE = (
    "\n\n✂️ Описание очень длинное: я сохранил первые {limit} знаков, "
    "остальное можно дописать менеджеру в ответ."
)
ASK_FIELD = "Что хотите изменить?"
DRAFT_INCOMPLETE = "Кажется, в заказе кое-чего не хватает — давайте допишем."
ORDER_SENT = (
    "Спасибо! Заказ №{id} отправлен ✅\n"
    "Менеджер посмотрит его и ответит вам здесь, в сообщениях сообщества."
)

# Polite re-asks when a step gets something it cannot use (a sticker, a stray button).
HINT_CHOOSE = "Пожалуйста, выберите услугу кнопкой под сообщением 👇"
HINT_TASK = ("Опишите задачу, пожалуйста, словами — можно приложить фото, документы, голосовые или переслать "
             "сообщения. Стикеры и подарки менеджеру не передаю 🙂")
HINT_DEADLINE = (
    "Не получилось понять срок 🙏 Выберите вариант кнопкой или напишите дату, "
    "например 25.12, «31 декабря» или «в пятницу»."
)
DATE_PAST = "Эта дата уже прошла 🙂 Выберите, пожалуйста, сегодняшний день или позже."
DATE_TOO_FAR = "Это слишком далеко: мы принимаем заказы не больше чем на год вперёд. Выберите дату поближе, пожалуйста."
HINT_CONTACT = "Выберите, пожалуйста, как с вами связаться, кнопкой ниже — или просто напишите номер телефона."
PHONE_INVALID = (
    "Кажется, в номере ошибка 🙏 Напишите, пожалуйста, российский номер, например "
    "+7 912 345-67-89 или 8 912 345 67 89."
)
HINT_CONFIRM = "Нажмите «Отправить», чтобы отправить заказ, или «Изменить», чтобы что-то поправить."
HINT_EDIT = "Выберите кнопкой, что изменить, или нажмите «Назад», чтобы вернуться к заказу."
HINT_REASON = "Напишите причину отказа текстом — или нажмите «Без причины»."

# --- Order details (customer's summary, manager's card, lists) ----------------
LINE_SERVICE = "Услуга: {title} — {price}"
LINE_TASK = "Задача: {task}"
LINE_ATTACHMENTS = "Вложения: {items}"
LINE_ATTACHMENTS_IN_DIALOGUE = "Вложения: {items} — в диалоге с клиентом"
LINE_DEADLINE = "Срок: {deadline}"
LINE_CONTACT = "Связь: {contact}"
NO_TASK_TEXT = "(без текста, см. вложения)"
TASK_CUT_MARK = " …текст сокращён"
DEADLINE_TEXTS = {
    DEADLINE_ASAP: "как можно скорее",
    DEADLINE_WEEK: "на этой неделе",
    DEADLINE_MONTH: "в течение месяца",
}
DEADLINE_DATE = "к {date}"
CONTACT_VK_TEXT = "сообщения ВКонтакте"
CONTACT_PHONE_TEXT = "телефон {phone}"
ATTACHMENT_FORMS = {  # counted: 1, 2-4, 5 and more
    "photo": ("фото", "фото", "фото"), "doc": ("документ", "документа", "документов"),
    "video": ("видео", "видео", "видео"), "audio": ("аудиозапись", "аудиозаписи", "аудиозаписей"),
    "audio_message": ("голосовое", "голосовых", "голосовых"), "link": ("ссылка", "ссылки", "ссылок"),
    "wall": ("запись", "записи", "записей"), "fwd": ("пересланное", "пересланных", "пересланных"),
}
ATTACHMENT_OTHER_FORMS = ("вложение", "вложения", "вложений")
ATTACHED = ("Получил: {items} 👍 Можно прислать ещё или написать задачу словами. "
            "Если этого достаточно — нажмите «Оставить как есть».")
ATTACHMENTS_FULL = ("Больше {limit} сообщений с вложениями к заказу не приложить 🙏 Остальное можно будет "
                    "прислать менеджеру потом. Напишите задачу словами или нажмите «Оставить как есть».")
STATUS_TEXTS = {
    "pending": "ждёт ответа менеджера",
    "confirmed": "подтверждён",
    "rejected": "отклонён",
    "cancelled": "отменён",
    "expired": "закрыт без ответа",
}
BOOKING_STATUS_TEXTS = {  # «бронь» is feminine: «Бронь №3 подтверждена»
    "pending": "ждёт ответа менеджера",
    "confirmed": "подтверждена",
    "rejected": "отклонена",
    "cancelled": "отменена",
    "expired": "закрыта без ответа",
}
STATS_NAMES = {
    "pending": "Ждут решения",
    "confirmed": "Подтверждены",
    "rejected": "Отклонены",
    "cancelled": "Отменены клиентами",
    "expired": "Закрыты без ответа",
}

# --- The manager's card ---------------------------------------------------------
CARD = "🆕 {word} №{id}\n{details}\nКлиент: {customer}\nСоздан: {created}"
CARD_CONFIRMED = "✅ Подтвердил {manager}, {at}"  # a name, or «менеджер https://vk.com/id…» (people.py)
CARD_REJECTED = "❌ Отклонил {manager}, {at}"
CARD_REASON = "Причина: {reason}"
CARD_CANCELLED = "🚫 Клиент отменил {called}"
# {word}: «Заказ»/«Бронь»; {called}: the same inside a sentence; {status}: in the kind's gender
SNACK_DECIDED = "{word} №{id} {status}, клиент получил сообщение"
SNACK_DECIDED_BY_YOU = "Вы уже {status} {called} №{id}"
SNACK_DECIDED_BY_OTHER = "{word} №{id} уже {status}: {manager}"  # a name, or «менеджер https://vk.com/id…»
SNACK_CANCELLED_BY_CUSTOMER = "Клиент уже отменил {called} №{id}"
SNACK_EXPIRED = "{word} №{id} уже {status}, клиент предупреждён"
DECIDED_WORDS = {"confirmed": "подтвердили", "rejected": "отклонили"}
ASK_REASON = (
    "{word} №{id} {status}, клиент уже знает. Напишите причину — я передам её клиенту. "
    "Или нажмите «Без причины»."
)
REASON_SENT = "Передал причину клиенту по {dative} №{id} 👍"
REASON_CUT = "Причина длинная: клиент увидит первые {limit} знаков, с пометкой, что текст сокращён."
REASON_TOO_LATE = "Причину к {dative} №{id} уже не добавить."
NO_REASON_OK = "Хорошо, без причины."
MANAGER_CANCEL_NOTICE = "🚫 Клиент отменил {word} №{id} «{title}» (https://vk.com/id{user_id})."

# --- What the customer hears about their order ------------------------------------
CUSTOMER_CONFIRMED = "Ваш заказ №{id} «{title}» подтверждён 🎉 Менеджер скоро свяжется с вами."
CUSTOMER_REJECTED = (
    "К сожалению, заказ №{id} «{title}» мы сейчас взять не можем 😔 "
    "Вы можете выбрать другую услугу или написать нам — постараемся помочь."
)
CUSTOMER_REASON = "Комментарий менеджера к заказу №{id}: {reason}"
CUSTOMER_BOOKING_REASON = "Комментарий менеджера к брони №{id}: {reason}"
# What an order is called on its card and in the notices, by its kind (orders.KINDS)
WORD_ORDER = "Заказ"
WORD_BOOKING = "Бронь"
WORD_ORDER_DATIVE, WORD_BOOKING_DATIVE = "заказу", "брони"  # «по заказу №3», «к брони №3»
WORD_ORDER_IT, WORD_BOOKING_IT = "он", "она"

# --- My orders -----------------------------------------------------------------------
MY_ORDERS = "Ваши заказы{page}:\n\n{lines}"
MY_ORDERS_PAGE = " (стр. {page})"
MY_ORDERS_MORE = "\n\nЗаказы постарше — на следующей странице 👇"
MY_ORDERS_CAN_CANCEL = "\n\nЗаказ, который ждёт ответа или уже подтверждён, можно отменить кнопкой ниже."
MY_ORDERS_EMPTY = "У вас пока нет заказов. Всё, что можно заказать или забронировать, — в меню ниже 🙂"
ORDER_LINE = "№{id} · {title} · {date} · {status}"
ORDER_LINE_UNDATED = "№{id} · {title} · {status}"
ASK_CANCEL_ORDER = "Отменить {word} №{id} «{title}»?"
ORDER_CANCELLED = "Заказ №{id} отменён. Менеджеров я предупредил."
BOOKING_CANCELLED = "Бронь №{id} отменена. Менеджеров я предупредил."
ORDER_NOT_FOUND = "Такого заказа у вас нет 🤔 Откройте «Мои заказы», чтобы увидеть свои."
CANNOT_CANCEL = "{word} №{id} уже нельзя отменить: {it} {status}."
CANNOT_CANCEL_PAST = "Бронь №{id} уже в прошлом — отменять нечего 🙂"

# --- Manager commands -----------------------------------------------------------------
PENDING_LIST = "Ждут решения ({count}){pages}:\n\n{lines}"
PENDING_PAGES = ", стр. {page} из {pages}"
PENDING_EMPTY = "Новых заказов, ждущих решения, нет 👌"
TODAY_LIST = "Заказы за сегодня ({count}):\n\n{lines}"
TODAY_EMPTY = "Сегодня заказов пока нет."
STATS = "Заказы по статусам:\n{lines}"
STATS_LINE = "{name}: {count}"
MANAGER_ORDER_LINE = "№{id} · {title} · {time} · {status} · https://vk.com/id{user_id}"
LIST_MORE = "\n…и ещё {count}"

# --- Table booking ----------------------------------------------------------------------
BOOKING_UNAVAILABLE = "Бронирование столиков сейчас недоступно 😔 Загляните, пожалуйста, чуть позже."
ASK_PARTY = "Сколько будет гостей? Выберите кнопкой или напишите число."
HINT_PARTY = "Напишите, пожалуйста, число гостей цифрами, например 4, — или выберите кнопкой 👇"
PARTY_TOO_LARGE = (
    "Для компании больше {max} человек лучше договориться лично 🙂 Позвоните нам, пожалуйста: "
    "{phone} — подберём для вас место."
)
ASK_TABLE_TYPE = "Где вам удобнее сесть? Гостей: {party}.\n\n{lines}"
TABLE_TYPE_LINE = "• {title}{description}"
HINT_TABLE_TYPE = "Выберите, пожалуйста, место кнопкой под сообщением 👇"
ASK_DAY = "На какой день бронируем? Выберите дату или напишите её, например 25.12, «31 декабря» или «в пятницу»."
NO_FREE_DAYS = (
    "К сожалению, в ближайшие дни свободных столиков здесь не осталось 😔 "
    "Выберите, пожалуйста, другое место — или позвоните нам: {phone}."
)
HINT_DAY = "Не получилось понять дату 🙏 Выберите её кнопкой или напишите, например 25.12, «7 дек» или «завтра»."
DAY_CLOSED = "{date} мы не работаем 🙏 Выберите, пожалуйста, другой день."
DAY_TOO_FAR = "Бронируем не больше чем на {days} дн. вперёд — выберите, пожалуйста, дату поближе."
DAY_FULL = "На {date} свободного времени уже нет 😔 Выберите, пожалуйста, другой день."
ASK_TIME = (
    "{date}, {place}, гостей: {party}. Столик бронируется на {length}.\n"
    "Свободно: {times}\n\nВыберите время кнопкой или напишите его, например {example}."
)
ASK_NEAR_TIME = "Ближайшее свободное время — {date}: {times}. Выберите, пожалуйста 👇"
HINT_TIME = "Выберите, пожалуйста, время кнопкой или напишите его, например 19:30."
TIME_NOT_FREE = "На {time} свободного столика нет 😔 Выберите, пожалуйста, из свободного времени 👇"
SLOT_TAKEN = "Ой, это время только что заняли 😔"
SLOT_TAKEN_NONE = (
    "Ой, это время только что заняли, а других свободных столиков не осталось 😔 "
    "Позвоните нам, пожалуйста: {phone}."
)
SLOT_GONE = "Выбранное время уже не свободно — выберите, пожалуйста, другое."
ASK_NAME = "На чьё имя бронируем? Напишите, пожалуйста, имя."
ASK_NAME_SAVED = (
    "На чьё имя бронируем? В прошлый раз вы оставляли: {name}, {phone}.\n"
    "Использовать их — или ввести другие? Можно сразу написать другое имя."
)
NAME_INVALID = "Напишите, пожалуйста, имя буквами — например, Анна."
NAME_TOO_LONG = "Имя получилось очень длинным 🙂 Напишите, пожалуйста, покороче — до {max} знаков."
# Typed party sizes in words ("нас двое"); digits are read as they are.
PARTY_WORDS = {
    "один": 1, "одна": 1, "я один": 1, "я одна": 1,
    "двое": 2, "вдвоём": 2, "вдвоем": 2, "на двоих": 2, "нас двое": 2,
    "трое": 3, "втроём": 3, "втроем": 3, "на троих": 3, "нас трое": 3,
    "четверо": 4, "вчетвером": 4, "на четверых": 4, "нас четверо": 4,
    "пятеро": 5, "на пятерых": 5, "шестеро": 6, "на шестерых": 6,
}
ASK_BOOKING_PHONE = "Ваш номер телефона? Например +7 912 345-67-89 — позвоним, если что-то изменится."
BOOKING_SUMMARY = "Проверьте, пожалуйста, бронь:\n\n{details}\n\nВсё верно? Нажмите «Отправить»."
HINT_BOOKING_CONFIRM = "Нажмите «Отправить», чтобы забронировать, или «Изменить», чтобы что-то поправить."
HINT_BOOKING_EDIT = "Выберите кнопкой, что изменить, или нажмите «Назад», чтобы вернуться к брони."
BOOKING_INCOMPLETE = "Кажется, в брони кое-чего не хватает — давайте допишем."
BOOKING_SENT = (
    "Спасибо! Бронь №{id} отправлена ✅\n"
    "Столик {table} держим за вами. Менеджер подтвердит бронь здесь, в сообщениях сообщества."
)
BOOKING_TITLE = "Столик на {date} в {time}"
LINE_WHEN = "Когда: {when}"
LINE_PARTY = "Гостей: {party}"
LINE_PLACE = "Место: {place}"
LINE_TABLE = "Столик: {table} ({place})"
LINE_NAME = "Имя: {name}"
LINE_PHONE = "Телефон: {phone}"
WHEN = "{weekday}, {date}, {start}–{end}"
WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
LENGTH_HOURS = "{hours} ч"
LENGTH_HOURS_MINUTES = "{hours} ч {minutes} мин"
LENGTH_MINUTES = "{minutes} мин"
CUSTOMER_BOOKING_CONFIRMED = "Ваша бронь №{id} подтверждена 🎉 {title}. Ждём вас!"
CUSTOMER_BOOKING_REJECTED = (
    "К сожалению, бронь №{id} ({title}) мы подтвердить не можем 😔 "
    "Выберите, пожалуйста, другое время — «Забронировать столик» в меню — или позвоните нам."
)
TODAY_BOOKINGS = "Брони на сегодня ({count}):\n\n{lines}"
TODAY_BOOKING_LINE = "{start}–{end} · {table} · гостей: {party} · {name} {phone} · №{id} {status}"

# --- Delivery: a card VK no longer lets the bot edit -------------------------------
CARD_FALLBACK = (
    "{word} №{id} «{title}»: {status}\n{lines}\n"
    "Карточку выше VK обновить уже не даёт, поэтому пишу отдельно 🙂"
)

# --- A dialogue left half-way (drafts.py) ----------------------------------------------
DRAFT_NUDGE = "Вы остановились на полпути{what} 🙂 Продолжим с того же места?"
DRAFT_NUDGE_BOOKING = " с бронью столика"
DRAFT_NUDGE_SERVICE = " с заказом"
DRAFT_NUDGE_MOVE = " с переносом брони"
BTN_RESUME = "Продолжить"
BTN_RESTART = "Начать заново"
DRAFT_GONE = "Тот черновик уже не сохранился — давайте начнём заново 🙂"

# --- Moving a booking (rescheduling.py) --------------------------------------------------
BTN_MOVE_ORDER = "Перенести №{id}"
MY_ORDERS_CAN_MOVE = "\nБронь, которая ещё впереди, можно перенести на другое время."
MOVE_START = "Переносим бронь №{id} ({when}). Гостей: {party}, место: {place}."
MOVE_NOT_POSSIBLE = "Бронь №{id} уже не перенести: она {status}."
MOVE_PAST = "Бронь №{id} уже прошла или идёт сейчас — перенести её не получится."
MOVE_NO_DAYS = "Свободных дат для такой брони сейчас нет 😔 Позвоните нам: {phone}"
HINT_MOVE_CONFIRM = "Нажмите «Отправить», чтобы перенести бронь, или «Назад», чтобы выбрать другое время."
MOVE_SAME_TIME = "Это и есть время вашей брони сейчас — выберите, пожалуйста, другое."
MOVE_SUMMARY = "Перенести бронь №{id}?\n\nБыло: {old}\nСтанет: {new}\nГостей: {party}, место: {place}"
MOVE_DONE = ("Готово! Бронь №{id} перенесена на {when}, столик {table} ✅\n"
             "Менеджер подтвердит новое время здесь, в сообщениях сообщества.")
MOVE_TAKEN = "Пока мы оформляли перенос, это время заняли 😔 Ваша бронь осталась как была."
MOVE_TAKEN_NONE = "Пока мы оформляли перенос, это время заняли 😔 Ваша бронь осталась как была. Позвоните нам: {phone}"
MOVE_TOO_LATE = "Бронь №{id} перенести уже нельзя — она {status}. Ничего не изменилось."
CARD_MOVED = "🔁 Бронь №{id} ({old}) клиент перенёс на {new} — новая карточка ниже."

# --- After Send: reminders, expiry, the visit, the digest (aftercare.py) ------------------
CMD_COMING = "coming"  # the guest's «Приду» under a reminder
CMD_VISIT = "visit"  # a manager's «Пришёл» / «Не пришёл»
ARG_VISIT = "v"
VISIT_CAME, VISIT_NO_SHOW, VISIT_COMING = "came", "no_show", "coming"  # orders.visit
BTN_COMING = "Приду"
BTN_CANCEL_BOOKING = "Отменить бронь"
BTN_CAME = "Пришёл"
BTN_NO_SHOW = "Не пришёл"
MANAGER_REMINDER = "⏰ {word} №{id} «{title}» всё ещё ждёт решения — загляните в карточку, пожалуйста."
CUSTOMER_EXPIRED = (
    "Простите, по заказу №{id} «{title}» мы не успели ответить вовремя, и он закрыт 😔 "
    "Если он ещё нужен — оформите его заново, мы постараемся ответить быстрее."
)
CUSTOMER_BOOKING_EXPIRED = (
    "Простите, по брони №{id} ({title}) мы не успели ответить вовремя, и она закрыта 😔 "
    "Если столик ещё нужен — забронируйте заново, мы постараемся ответить быстрее."
)
CARD_EXPIRED = "⌛ Никто не ответил вовремя: {called} {status}, клиент предупреждён"
GUEST_REMINDER = "Напоминаем о брони №{id}: {when}, столик {table} 🙂 Вы придёте?"
COMING_THANKS = "Спасибо! Ждём вас {when} 🙂"
COMING_TOO_LATE = "Бронь №{id} уже {status} — отмечать нечего."
CARD_COMING = "🙋 Гость подтвердил, что придёт"
REMINDER_AT = "\nНапомним о брони {at}."
VISIT_QUESTION = "🕐 Бронь №{id} ({when}, {name}, столик {table}): гость пришёл?"
CARD_CAME = "✅ Гость пришёл (отметил менеджер https://vk.com/id{manager})"
CARD_NO_SHOW = "🚷 Гость не пришёл (отметил менеджер https://vk.com/id{manager})"
CARD_NO_SHOWS = "⚠️ Не пришёл {count} раз за год"
SNACK_VISIT_MARKED = "Бронь №{id}: отмечено"
SNACK_VISIT_BY_OTHER = "Бронь №{id} уже отметил менеджер id{manager}"
DIGEST = "☀️ Доброе утро! Сводка на {date}\n\n{bookings}\n\n{pending}"
DIGEST_NO_BOOKINGS = "Броней на сегодня нет."
DIGEST_NO_PENDING = "Все заявки разобраны 👍"

# --- A person when asked (handover.py) and names (names.py) ----------------------------------
BTN_HANDOVER = "Написать менеджеру"
BTN_BOT_BACK = "Вернуть бота"
# Typed, as whole words, any case; not after a number («на 12 человек» is a party size).
HANDOVER_WORDS = r"(?<!\w)(?<!\d )(менеджер|оператор|человек|живой)(?!\w)"
HANDOVER_TOLD = ("Зову менеджера 🙌 Он ответит вам прямо здесь, в этом чате, в рабочее время ({hours}). "
                 "Чтобы вернуться к боту, напишите «меню».")
HANDOVER_CARD = "🙋 {customer} просит живого человека.\nЧем был занят: {doing}\nДиалог: {link}"
HANDOVER_CARD_REPLY = ("💬 {manager} отвечает клиенту {customer}, бот пока молчит.\nЧем был занят: {doing}\n"
                       "Диалог: {link}")
HANDOVER_LINK = "https://vk.com/gim{group}?sel={user}"
HANDOVER_IN_MENU = "в главном меню"
HANDOVER_DOING = (("svc_", "оформлял заказ"), ("bk_", "бронировал столик"), ("rs_", "переносил бронь"),
                  ("mgr_", "писал причину отказа"))
BOT_BACK = "Я снова на связи 🙂 Чем помочь?"
SNACK_BOT_BACK = "Бот снова отвечает: {customer}"
SNACK_BOT_WAS_BACK = "Бот уже отвечает: {customer}"

# --- Mailings: delivery (mailer.py) --------------------------------------------------------------
# Every mailing message carries this text button (a text one works in every client); the press
# comes as {"cmd": CMD_UNSUBSCRIBE}.
CMD_UNSUBSCRIBE = "unsubscribe"
BTN_UNSUBSCRIBE = "Отписаться"
MAILING_REPORT = ("📬 Рассылка №{id} завершена.\nДоставлено: {sent}\nНе разрешили сообщения: {not_allowed}\n"
                  "Отписались с начала рассылки: {unsubscribed}\nНе доставлено из-за ошибок: {failed}")

# --- Mailings: the managers' «Рассылка», «Отписаться» / «Подписаться» (mailing.py) --------------
CMD_MAILING, CMD_MAIL_SEND, CMD_MAIL_LATER, CMD_MAIL_CANCEL = "mailing", "mail_send", "mail_later", "mail_cancel"
CMD_SUBSCRIBE, BTN_MAILING, BTN_MAIL_LATER, BTN_SUBSCRIBE = "subscribe", "Рассылка", "Запланировать", "Подписаться"
TYPED_COMMANDS.update({"рассылка": CMD_MAILING, "запланировать": CMD_MAIL_LATER, "отписаться": CMD_UNSUBSCRIBE,
                       "подписаться": CMD_SUBSCRIBE})
MAIL_ASK = "Напишите текст рассылки — её получат все, кто писал сообществу, кроме отписавшихся. Можно с одним фото."
MAIL_HINT = "Пришлите, пожалуйста, текст рассылки словами — стикер или подарок в рассылку не попадёт 🙂"
MAIL_ONE_PHOTO = "В рассылку беру текст и одно фото (первое) — другие вложения не передам 🙂"
MAIL_TOO_LONG = "Текст длинноват 🙏 Уложитесь, пожалуйста, в {limit} знаков и пришлите его снова."
MAIL_PREVIEW = "Так рассылку увидят получатели:\n\n{text}{photo}\n\nПолучат: {count}. Отправляем?"
MAIL_PHOTO_KEPT, MAIL_WITH_PHOTO = "Фото получил 👍 Теперь напишите текст рассылки.", "\n\n📷 И ваше фото."
MAIL_HINT_PREVIEW = "Выберите, пожалуйста, кнопкой: «Отправить», «Запланировать» или «Отмена» 👇"
MAIL_ASK_WHEN = "Когда отправить? Напишите дату и время, например «25.12 12:00», «завтра 10:00» или «в пятницу 18:30»."
MAIL_HINT_WHEN = "Не получилось понять дату и время 🙏 Напишите, например, «25.12 12:00» или «завтра 10:00»."
MAIL_WHEN_PAST = "Это время уже прошло 🙂 Напишите, пожалуйста, время впереди."
MAIL_STARTED = "Рассылка №{id} пошла ✅ Когда закончу, пришлю итоги."
MAIL_SCHEDULED = "Рассылка №{id} запланирована на {at} ✅ Когда она уйдёт, пришлю итоги."
MAIL_CANCELLED = "Рассылка №{id} отменена 👌 Кому она ещё не ушла, тем и не придёт."
MAIL_NOT_CANCELLED = "Рассылку №{id} уже не отменить: она {status}."
MAIL_QUIET = "\n🌙 Раньше не выйдет: {at} — тихие часы ({hours}), в них рассылки не отправляю."
UNSUBSCRIBED = "Вы отписались от рассылок 👌 Больше их не пришлю. Передумаете — «Подписаться» в «Помощь»."
SUBSCRIBED = "Готово, вы снова подписаны на рассылки 🙂"
STATS_MAILINGS = "\n\nПоследние рассылки:\n{lines}"
MAILING_LINE = "№{id} · {at} · {status}: доставлено {sent}, не разрешили {na}, отписались {un}, ошибки {failed}"
MAILING_STATUS = {"scheduled": "запланирована", "sending": "идёт", "done": "завершена", "cancelled": "отменена"}
