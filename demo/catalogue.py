"""The documentation catalogue of the demo, as plain data for `seed_demo`: libraries, their versions and a few
pages of the latest version's documentation, written here or, for HTTPX (Markdown) and Flask (reStructuredText),
real pages of their documentation in `demo/docs/`, imported as `manage.py import_docs` imports them.
"""
import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkSeed:
    title: str
    path: str
    content: str


@dataclass(frozen=True)
class LibrarySeed:
    slug: str
    name: str
    description: str
    homepage_url: str
    repository_url: str
    docs_url: str  # where each chunk's link starts: the pages' site, or the imported files' source
    # In release-line order: the last one is the latest version, the only one whose documentation is loaded.
    versions: tuple[tuple[str, datetime.date], ...]
    chunks: tuple[ChunkSeed, ...] = ()
    # Or a folder of real documentation files under demo/docs/, with its project's LICENSE beside them.
    docs_folder: str = ""


def _date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


LIBRARIES = (
    LibrarySeed(
        slug="django/django",
        name="Django",
        description="The web framework for perfectionists with deadlines: ORM, migrations, admin, forms and "
        "templates in one batteries-included Python package.",
        homepage_url="https://www.djangoproject.com/",
        repository_url="https://github.com/django/django",
        docs_url="https://docs.djangoproject.com/en/5.2/",
        versions=(("4.2.21", _date("2025-05-07")), ("5.1.10", _date("2025-06-04")), ("5.2.3", _date("2025-06-10"))),
        chunks=(
            ChunkSeed(
                "Writing your first Django app",
                "intro/tutorial01/",
                "A Django project is a collection of settings and apps. Create one with `django-admin startproject "
                "mysite`, then add an app with `python manage.py startapp polls`. An app is a Python package that "
                "follows a convention: models in `models.py`, views in `views.py`, URL patterns in `urls.py`.\n\n"
                "Run `python manage.py runserver` to start the lightweight development server. It reloads the code "
                "on each request as needed, but it is not meant for production: use a WSGI or ASGI server there.",
            ),
            ChunkSeed(
                "Models",
                "topics/db/models/",
                "A model is the single, definitive source of information about your data. Each model is a Python "
                "class that subclasses `django.db.models.Model`, and each attribute represents a database field. "
                "Django gives you an automatically generated database-access API.\n\n"
                "Once you have defined your models, tell Django you are going to use them by adding the app to "
                "`INSTALLED_APPS`, then run `makemigrations` and `migrate` to create the tables.",
            ),
            ChunkSeed(
                "Making queries",
                "topics/db/queries/",
                "A `QuerySet` represents a collection of objects from your database. It can have zero, one or many "
                "filters. QuerySets are lazy: creating one does not touch the database until it is evaluated, for "
                "example by iteration, slicing with a step, `len()` or `list()`.\n\n"
                "Use `filter()` and `exclude()` with field lookups such as `pub_date__year=2025` or "
                "`headline__icontains='django'`, and span relationships with double underscores.",
            ),
            ChunkSeed(
                "Database transactions",
                "topics/db/transactions/",
                "Django's default behaviour is to run in autocommit mode. `atomic` lets you create a block of code "
                "within which the atomicity on the database is guaranteed: if the block completes successfully, the "
                "changes are committed; if there is an exception, they are rolled back.\n\n"
                "`atomic` blocks can be nested. Use `transaction.on_commit()` to run a callback, such as sending an "
                "email or queueing a task, only after the surrounding transaction has been committed.",
            ),
            ChunkSeed(
                "The Django admin site",
                "ref/contrib/admin/",
                "One of the most powerful parts of Django is the automatic admin interface. It reads metadata from "
                "your models to provide a quick, model-centric interface where trusted users can manage content.\n\n"
                "Register a model with `@admin.register(Model)` on a `ModelAdmin` subclass, and tune it with "
                "`list_display`, `list_filter`, `search_fields`, `list_select_related` and `readonly_fields`.",
            ),
            ChunkSeed(
                "Writing and running tests",
                "topics/testing/overview/",
                "Django's unit tests use the Python standard library module `unittest`. Subclass "
                "`django.test.TestCase`, which runs each test inside a transaction to provide isolation.\n\n"
                "Tests that require a database will not use your production database: a separate, blank database "
                "is created for them and destroyed when all the tests have been executed.",
            ),
        ),
    ),
    LibrarySeed(
        slug="facebook/react",
        name="React",
        description="The library for web and native user interfaces: build UIs out of components written in "
        "JavaScript and JSX.",
        homepage_url="https://react.dev/",
        repository_url="https://github.com/facebook/react",
        docs_url="https://react.dev/",
        versions=(("18.3.1", _date("2024-04-26")), ("19.0.0", _date("2024-12-05")), ("19.1.0", _date("2025-03-28"))),
        chunks=(
            ChunkSeed(
                "Your first component",
                "learn/your-first-component",
                "React components are regular JavaScript functions that return markup. Their names must start with "
                "a capital letter, or they will not work. Export the component, then use it inside another one as "
                "if it were an HTML tag: `<Profile />`.\n\n"
                "Components can render other components, but you must never nest their definitions: define every "
                "component at the top level of the file.",
            ),
            ChunkSeed(
                "State: a component's memory",
                "learn/state-a-components-memory",
                "Components often need to change what is on the screen as a result of an interaction. Use the "
                "`useState` Hook to add a state variable: `const [index, setIndex] = useState(0);`.\n\n"
                "Calling the setter asks React to re-render the component with the new value. State is local to a "
                "component instance on the screen: render the same component twice and each copy has its own state.",
            ),
            ChunkSeed(
                "Synchronizing with Effects",
                "learn/synchronizing-with-effects",
                "Effects let you run some code after rendering so that you can synchronize your component with a "
                "system outside of React, such as a network connection or a browser API. Declare one with "
                "`useEffect(() => { ... }, [dependencies])`.\n\n"
                "Return a cleanup function to stop what the Effect started. In development, React runs setup and "
                "cleanup one extra time to help you find Effects that do not clean up properly.",
            ),
            ChunkSeed(
                "useActionState",
                "reference/react/useActionState",
                "`useActionState` is a Hook that allows you to update state based on the result of a form action: "
                "`const [state, formAction, isPending] = useActionState(fn, initialState);`.\n\n"
                "Pass `formAction` as the `action` prop of a form. When the form is submitted, React calls your "
                "function with the previous state and the submitted form data, and `isPending` tells you whether "
                "the action is still running.",
            ),
            ChunkSeed(
                "Server Components",
                "reference/rsc/server-components",
                "Server Components are a new type of component that renders ahead of time, before bundling, in an "
                "environment separate from your client app or SSR server. They can run once at build time or for "
                "each request on a web server.\n\n"
                "A Server Component can be async and read data directly with `await`, and it ships no JavaScript to "
                "the browser. Add interactivity by rendering Client Components marked with the `\"use client\"` "
                "directive.",
            ),
        ),
    ),
    LibrarySeed(
        slug="vercel/next.js",
        name="Next.js",
        description="The React framework for the web: file-system routing, server rendering, React Server "
        "Components and built-in optimizations.",
        homepage_url="https://nextjs.org/",
        repository_url="https://github.com/vercel/next.js",
        docs_url="https://nextjs.org/docs/",
        versions=(("14.2.30", _date("2025-06-09")), ("15.3.4", _date("2025-06-16"))),
        chunks=(
            ChunkSeed(
                "Installation",
                "app/getting-started/installation",
                "The quickest way to create a new Next.js app is `npx create-next-app@latest`, which sets up "
                "TypeScript, ESLint, Tailwind CSS and the App Router for you. Next.js requires Node.js 18.18 or "
                "later.\n\n"
                "Run `npm run dev` to start the development server on http://localhost:3000, `npm run build` to "
                "create an optimized production build and `npm run start` to serve it.",
            ),
            ChunkSeed(
                "Layouts and pages",
                "app/getting-started/layouts-and-pages",
                "Next.js uses file-system based routing: folders define route segments and a `page.tsx` file makes "
                "a segment publicly accessible. A layout is UI shared between multiple pages; on navigation, layouts "
                "preserve state, remain interactive and do not re-render.\n\n"
                "The root layout, `app/layout.tsx`, is required and must contain the `<html>` and `<body>` tags. "
                "Create dynamic segments by wrapping a folder name in square brackets, such as `app/blog/[slug]`.",
            ),
            ChunkSeed(
                "Fetching data",
                "app/getting-started/fetching-data",
                "In the App Router, Server Components can fetch data directly: make the component async and await "
                "`fetch` or a database client. Because the code runs on the server, credentials never reach the "
                "browser.\n\n"
                "Wrap slow parts of the page in `<Suspense>` or add a `loading.tsx` file to stream the UI while the "
                "data is being fetched.",
            ),
            ChunkSeed(
                "Caching and revalidating",
                "app/getting-started/caching-and-revalidating",
                "Next.js caches the results of data fetching and rendering to improve performance. Revalidate "
                "cached data after a time with `export const revalidate = 3600` or on demand with "
                "`revalidatePath('/posts')` and `revalidateTag('posts')` from a Server Action or Route Handler.\n\n"
                "Use `unstable_cache` to cache the result of database queries and other expensive computations.",
            ),
            ChunkSeed(
                "Route Handlers",
                "app/building-your-application/routing/route-handlers",
                "Route Handlers allow you to create custom request handlers for a given route using the Web Request "
                "and Response APIs. Define them in a `route.ts` file inside the `app` directory and export functions "
                "named after HTTP methods: `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD` and `OPTIONS`.\n\n"
                "A `route.ts` file cannot live at the same route segment level as a `page.tsx`.",
            ),
            ChunkSeed(
                "Middleware",
                "app/building-your-application/routing/middleware",
                "Middleware allows you to run code before a request is completed. Based on the incoming request, "
                "you can rewrite, redirect, modify the request or response headers, or respond directly.\n\n"
                "Create `middleware.ts` at the root of the project and export a `config` object with a `matcher` "
                "to limit the paths it runs on.",
            ),
        ),
    ),
    LibrarySeed(
        slug="fastapi/fastapi",
        name="FastAPI",
        description="A modern, fast web framework for building APIs with Python based on standard type hints, "
        "with automatic OpenAPI documentation.",
        homepage_url="https://fastapi.tiangolo.com/",
        repository_url="https://github.com/fastapi/fastapi",
        docs_url="https://fastapi.tiangolo.com/",
        versions=(
            ("0.110.3", _date("2024-04-30")), ("0.112.4", _date("2024-09-05")), ("0.115.12", _date("2025-03-23")),
        ),
        chunks=(
            ChunkSeed(
                "First steps",
                "tutorial/first-steps/",
                "The simplest FastAPI file creates an app with `app = FastAPI()` and declares a path operation with "
                "a decorator: `@app.get(\"/\")` above an `async def root()` that returns a dict. FastAPI converts "
                "the return value to JSON.\n\n"
                "Run it with `fastapi dev main.py`, then open http://127.0.0.1:8000/docs for the interactive "
                "documentation generated from the OpenAPI schema.",
            ),
            ChunkSeed(
                "Request body",
                "tutorial/body/",
                "To declare a request body, use Pydantic models. Create a class that inherits from `BaseModel`, "
                "then declare it as the type of a parameter of your path operation function.\n\n"
                "FastAPI reads the body as JSON, converts the types, validates the data and, when it is invalid, "
                "returns a clear error indicating exactly where and what the incorrect data was.",
            ),
            ChunkSeed(
                "Dependencies",
                "tutorial/dependencies/",
                "FastAPI has a powerful but intuitive Dependency Injection system. A dependency is a function that "
                "takes the same parameters as a path operation function; declare it with "
                "`commons: Annotated[dict, Depends(common_parameters)]`.\n\n"
                "Dependencies are a good place for shared logic such as database sessions, authentication and "
                "permission checks. Dependencies with `yield` run extra steps after the response is sent.",
            ),
            ChunkSeed(
                "Security: OAuth2 with password and Bearer",
                "tutorial/security/oauth2-jwt/",
                "Use `OAuth2PasswordBearer(tokenUrl=\"token\")` to declare that clients send a token in the "
                "`Authorization: Bearer` header. A dependency decodes the token, looks up the user and raises "
                "`HTTPException(status_code=401)` when it is invalid.\n\n"
                "Never store plain passwords: hash them with a slow algorithm such as Argon2 or bcrypt, and compare "
                "hashes when a user logs in.",
            ),
            ChunkSeed(
                "Background tasks",
                "tutorial/background-tasks/",
                "You can define background tasks to be run after returning a response, such as email notifications "
                "or processing data. Declare a parameter of type `BackgroundTasks` and call "
                "`background_tasks.add_task(write_notification, email, message=\"some notification\")`.\n\n"
                "For heavy computation, or work that must survive a restart, use a bigger tool such as Celery.",
            ),
        ),
    ),
    LibrarySeed(
        slug="pallets/flask",
        name="Flask",
        description="The Python micro framework for building web applications, built on Werkzeug and Jinja.",
        homepage_url="https://flask.palletsprojects.com/",
        repository_url="https://github.com/pallets/flask",
        docs_url="https://github.com/pallets/flask/blob/3.1.1/docs/",
        versions=(("2.3.3", _date("2023-08-21")), ("3.0.3", _date("2024-04-07")), ("3.1.1", _date("2025-05-13"))),
        docs_folder="flask",
    ),
    LibrarySeed(
        slug="encode/httpx",
        name="HTTPX",
        description="A fully featured HTTP client for Python 3, with sync and async APIs, HTTP/1.1 and HTTP/2.",
        homepage_url="https://www.python-httpx.org/",
        repository_url="https://github.com/encode/httpx",
        docs_url="https://github.com/encode/httpx/blob/0.28.1/docs/",
        versions=(("0.27.2", _date("2024-08-27")), ("0.28.1", _date("2024-12-06"))),
        docs_folder="httpx",
    ),
    LibrarySeed(
        slug="sqlalchemy/sqlalchemy",
        name="SQLAlchemy",
        description="The Python SQL toolkit and Object Relational Mapper: Core for SQL expressions, ORM for "
        "mapped classes and the unit of work.",
        homepage_url="https://www.sqlalchemy.org/",
        repository_url="https://github.com/sqlalchemy/sqlalchemy",
        docs_url="https://docs.sqlalchemy.org/en/20/",
        versions=(("1.4.54", _date("2024-09-05")), ("2.0.41", _date("2025-05-14"))),
        chunks=(
            ChunkSeed(
                "Establishing connectivity: the Engine",
                "tutorial/engine.html",
                "The start of any SQLAlchemy application is an object called the `Engine`, created once per "
                "database with `create_engine(\"postgresql+psycopg://scott:tiger@localhost/test\")`. It acts as a "
                "central source of connections and holds a connection pool.\n\n"
                "The engine is lazy: it does not connect until it is first asked to perform a task.",
            ),
            ChunkSeed(
                "Declaring mapped classes",
                "orm/declarative_tables.html",
                "In the 2.0 style, mapped classes subclass a `DeclarativeBase` and declare columns with "
                "`Mapped[]` annotations and `mapped_column()`: `id: Mapped[int] = mapped_column(primary_key=True)`.\n\n"
                "`Mapped[str | None]` makes a column nullable; the annotation alone is enough for simple columns, "
                "and `relationship()` links classes together.",
            ),
            ChunkSeed(
                "Working with ORM data: the Session",
                "orm/session_basics.html",
                "The `Session` establishes all conversations with the database and represents a holding zone for "
                "all the objects you have loaded or associated with it during its lifespan. Use it as a context "
                "manager: `with Session(engine) as session:`.\n\n"
                "`session.add()` places objects in the session, `session.commit()` flushes pending changes and "
                "commits the transaction, and `session.execute(select(User))` runs queries.",
            ),
            ChunkSeed(
                "Relationship loading techniques",
                "orm/queryguide/relationships.html",
                "By default relationships are lazy loaded, which emits a SELECT per object the first time the "
                "attribute is accessed: the N+1 problem. Choose a loader strategy per query with options such as "
                "`selectinload(User.addresses)` or `joinedload(Address.user)`.\n\n"
                "`selectinload` is the most useful strategy for collections; `joinedload` suits many-to-one "
                "references.",
            ),
            ChunkSeed(
                "Asynchronous I/O (asyncio)",
                "orm/extensions/asyncio.html",
                "SQLAlchemy supports Python asyncio through `create_async_engine()` and `AsyncSession`, with "
                "drivers such as asyncpg or psycopg in async mode.\n\n"
                "Lazy loading cannot happen implicitly under asyncio: load relationships eagerly, or use "
                "`AsyncAttrs` and `await obj.awaitable_attrs.addresses`.",
            ),
        ),
    ),
    LibrarySeed(
        slug="pydantic/pydantic",
        name="Pydantic",
        description="Data validation using Python type hints: fast, extensible models whose core is written "
        "in Rust.",
        homepage_url="https://docs.pydantic.dev/",
        repository_url="https://github.com/pydantic/pydantic",
        docs_url="https://docs.pydantic.dev/latest/",
        versions=(("1.10.22", _date("2025-04-24")), ("2.10.6", _date("2025-01-23")), ("2.11.7", _date("2025-06-14"))),
        chunks=(
            ChunkSeed(
                "Models",
                "concepts/models/",
                "One of the primary ways of defining schema in Pydantic is via models: classes which inherit from "
                "`BaseModel` and define fields as annotated attributes. Untrusted data can be passed to a model and, "
                "after parsing and validation, Pydantic guarantees that the fields of the instance conform to the "
                "field types.\n\n"
                "Use `model_validate()` to validate a dict, `model_validate_json()` for a JSON string, and "
                "`model_dump()` to turn an instance back into a dict.",
            ),
            ChunkSeed(
                "Validators",
                "concepts/validators/",
                "Field validators run custom checks on a single field: decorate a classmethod with "
                "`@field_validator(\"name\")`. Model validators, `@model_validator(mode=\"after\")`, check the "
                "whole model once every field has been validated.\n\n"
                "Raise `ValueError` inside a validator to report an error; Pydantic collects every error into a "
                "single `ValidationError`.",
            ),
            ChunkSeed(
                "Settings management",
                "concepts/pydantic_settings/",
                "`pydantic-settings` loads configuration from environment variables and dotenv files into a "
                "`BaseSettings` model, so settings are validated like any other data.\n\n"
                "Configure a prefix with `model_config = SettingsConfigDict(env_prefix=\"APP_\")`; nested models "
                "can be read from variables with a delimiter such as `__`.",
            ),
            ChunkSeed(
                "Migration guide: V1 to V2",
                "migration/",
                "Pydantic V2 renames many methods: `.dict()` becomes `.model_dump()`, `.json()` becomes "
                "`.model_dump_json()`, `parse_obj()` becomes `model_validate()`, and `class Config` is replaced by "
                "`model_config = ConfigDict(...)`.\n\n"
                "`@validator` is deprecated in favour of `@field_validator`, and `@root_validator` in favour of "
                "`@model_validator`. The `bump-pydantic` tool automates most of the changes.",
            ),
        ),
    ),
    LibrarySeed(
        slug="tailwindlabs/tailwindcss",
        name="Tailwind CSS",
        description="A utility-first CSS framework for rapidly building custom user interfaces.",
        homepage_url="https://tailwindcss.com/",
        repository_url="https://github.com/tailwindlabs/tailwindcss",
        docs_url="https://tailwindcss.com/docs/",
        versions=(("3.4.17", _date("2024-12-17")), ("4.1.10", _date("2025-06-11"))),
        chunks=(
            ChunkSeed(
                "Installing Tailwind CSS with Vite",
                "installation/using-vite",
                "Install `tailwindcss` and `@tailwindcss/vite`, add the `tailwindcss()` plugin to your Vite "
                "configuration, then import Tailwind in your CSS with `@import \"tailwindcss\";`.\n\n"
                "Tailwind scans your source files for class names and generates only the CSS you actually use, so "
                "the production stylesheet stays small.",
            ),
            ChunkSeed(
                "Styling with utility classes",
                "styling-with-utility-classes",
                "You style things with Tailwind by combining many single-purpose presentational classes directly in "
                "your markup, such as `flex`, `p-6`, `rounded-xl` and `text-gray-900`.\n\n"
                "Prefix a utility with a variant to apply it conditionally: `hover:bg-sky-700`, `focus:outline-2` "
                "or `md:grid-cols-3`.",
            ),
            ChunkSeed(
                "Theme variables",
                "theme",
                "In Tailwind CSS v4, design tokens are CSS variables declared in an `@theme` block: "
                "`--color-mint-500: oklch(0.72 0.11 178);` creates utilities such as `bg-mint-500` and "
                "`text-mint-500`.\n\n"
                "Theme variables are also exposed as regular CSS variables, so you can use them in arbitrary values "
                "and inline styles.",
            ),
            ChunkSeed(
                "Dark mode",
                "dark-mode",
                "Tailwind includes a `dark` variant that lets you style your site differently when dark mode is "
                "enabled: `bg-white dark:bg-gray-800`. By default it uses the `prefers-color-scheme` media query.\n\n"
                "To toggle dark mode manually, override the variant with "
                "`@custom-variant dark (&:where(.dark, .dark *));` and add the `dark` class to the html element.",
            ),
            ChunkSeed(
                "Responsive design",
                "responsive-design",
                "Every utility class in Tailwind can be applied conditionally at different breakpoints. Tailwind "
                "uses a mobile-first breakpoint system: unprefixed utilities apply to all screen sizes, while "
                "prefixed ones like `md:` apply at that breakpoint and above.\n\n"
                "The default breakpoints are `sm` (40rem), `md` (48rem), `lg` (64rem), `xl` (80rem) and `2xl` "
                "(96rem).",
            ),
        ),
    ),
    LibrarySeed(
        slug="vuejs/core",
        name="Vue.js",
        description="The progressive JavaScript framework for building web user interfaces.",
        homepage_url="https://vuejs.org/",
        repository_url="https://github.com/vuejs/core",
        docs_url="https://vuejs.org/",
        versions=(("3.4.38", _date("2024-08-15")), ("3.5.17", _date("2025-06-18"))),
        chunks=(
            ChunkSeed(
                "Reactivity fundamentals",
                "guide/essentials/reactivity-fundamentals.html",
                "In the Composition API, the recommended way to declare reactive state is the `ref()` function: "
                "`const count = ref(0)`. In the script, read and write the value through `count.value`; in the "
                "template, refs are unwrapped automatically.\n\n"
                "`reactive()` makes an object itself reactive, but it only works with object types and cannot be "
                "replaced wholesale, which is why `ref()` is the primary API.",
            ),
            ChunkSeed(
                "Computed properties",
                "guide/essentials/computed.html",
                "Use `computed()` for complex logic that depends on reactive data. A computed property tracks its "
                "reactive dependencies and only re-evaluates when one of them changes; otherwise it returns the "
                "cached result.\n\n"
                "Getters should be free of side effects: do not make async requests or mutate the DOM inside a "
                "computed getter. Use watchers for that.",
            ),
            ChunkSeed(
                "Components basics",
                "guide/essentials/component-basics.html",
                "Components let us split the UI into independent and reusable pieces. With single-file components, "
                "each `.vue` file holds a `<template>`, a `<script setup>` and optional `<style>` blocks.\n\n"
                "Declare props with `defineProps()` and events with `defineEmits()`; a parent listens with "
                "`@event-name` and passes data down with `:prop-name`.",
            ),
            ChunkSeed(
                "Composables",
                "guide/reusability/composables.html",
                "A composable is a function that leverages the Composition API to encapsulate and reuse stateful "
                "logic. By convention its name starts with `use`, like `useMouse()` or `useFetch(url)`.\n\n"
                "A composable returns a plain object containing refs, so the component can destructure it while "
                "keeping reactivity.",
            ),
        ),
    ),
    LibrarySeed(
        slug="sveltejs/svelte",
        name="Svelte",
        description="Cybernetically enhanced web apps: a compiler that turns declarative components into "
        "efficient JavaScript.",
        homepage_url="https://svelte.dev/",
        repository_url="https://github.com/sveltejs/svelte",
        docs_url="https://svelte.dev/docs/svelte/",
        versions=(("4.2.19", _date("2024-08-22")), ("5.34.7", _date("2025-06-21"))),
        chunks=(
            ChunkSeed(
                "$state",
                "$state",
                "The `$state` rune allows you to create reactive state, which means that your UI reacts when it "
                "changes: `let count = $state(0);`. Unlike other frameworks, there is no API for interacting with "
                "state: `count` is just a number, and you update it like one.\n\n"
                "When you pass an array or a simple object to `$state`, it becomes a deeply reactive proxy.",
            ),
            ChunkSeed(
                "$derived",
                "$derived",
                "Derived state is declared with the `$derived` rune: `let doubled = $derived(count * 2);`. The "
                "expression inside must be free of side effects; Svelte recomputes it whenever its dependencies "
                "change.\n\n"
                "For derivations that do not fit in a short expression, use `$derived.by(() => { ... })` with a "
                "function body.",
            ),
            ChunkSeed(
                "$effect",
                "$effect",
                "Effects are functions that run when state updates, used for third-party libraries, drawing on a "
                "canvas or making network requests. They only run in the browser, not during server-side "
                "rendering.\n\n"
                "An effect can return a teardown function, which runs before the effect re-runs and when the "
                "component is destroyed. Avoid updating state inside effects when `$derived` can express it.",
            ),
            ChunkSeed(
                "Snippets",
                "snippet",
                "Snippets, declared with `{#snippet name(params)}...{/snippet}`, are a way to create reusable "
                "chunks of markup inside your components, and render them with `{@render name(args)}`.\n\n"
                "Snippets can be passed to components as props, replacing slots from Svelte 4.",
            ),
        ),
    ),
    LibrarySeed(
        slug="prisma/prisma",
        name="Prisma",
        description="Next-generation ORM for Node.js and TypeScript: a declarative schema, a type-safe query "
        "client and migrations for PostgreSQL, MySQL, SQLite, SQL Server and MongoDB.",
        homepage_url="https://www.prisma.io/",
        repository_url="https://github.com/prisma/prisma",
        docs_url="https://www.prisma.io/docs/",
        versions=(("5.22.0", _date("2024-11-05")), ("6.10.1", _date("2025-06-18"))),
        chunks=(
            ChunkSeed(
                "Prisma schema",
                "orm/prisma-schema/overview",
                "The Prisma schema, usually `schema.prisma`, is the main configuration file of your Prisma setup. "
                "It holds the data source (the database connection), the generators (such as Prisma Client) and "
                "the data model definition.\n\n"
                "Models map to tables: `model User { id Int @id @default(autoincrement()) email String @unique }`.",
            ),
            ChunkSeed(
                "CRUD with Prisma Client",
                "orm/prisma-client/queries/crud",
                "Prisma Client offers type-safe queries generated from your schema: `prisma.user.create({ data })`, "
                "`prisma.user.findUnique({ where: { email } })`, `prisma.user.update()` and "
                "`prisma.user.delete()`.\n\n"
                "Use `include` to load relations and `select` to pick the fields returned; the result types follow "
                "your choices.",
            ),
            ChunkSeed(
                "Prisma Migrate",
                "orm/prisma-migrate/getting-started",
                "Prisma Migrate generates SQL migration files from changes to your Prisma schema. In development, "
                "run `npx prisma migrate dev --name init` to create and apply a migration and regenerate the "
                "client.\n\n"
                "In production and CI, apply pending migrations with `npx prisma migrate deploy`, which never "
                "resets the database.",
            ),
            ChunkSeed(
                "Transactions",
                "orm/prisma-client/queries/transactions",
                "`prisma.$transaction([...])` runs a list of queries in one database transaction. The interactive "
                "form, `prisma.$transaction(async (tx) => { ... })`, lets you run logic between queries; use `tx` "
                "instead of `prisma` inside it.\n\n"
                "Keep interactive transactions short: they hold a connection until they finish, and a timeout "
                "rolls them back.",
            ),
        ),
    ),
    LibrarySeed(
        slug="celery/celery",
        name="Celery",
        description="Distributed task queue for Python: run work asynchronously or on a schedule, with "
        "RabbitMQ or Redis as the broker.",
        homepage_url="https://docs.celeryq.dev/",
        repository_url="https://github.com/celery/celery",
        docs_url="https://docs.celeryq.dev/en/stable/",
        versions=(("5.3.6", _date("2023-11-22")), ("5.4.0", _date("2024-04-17")), ("5.5.3", _date("2025-06-01"))),
        chunks=(
            ChunkSeed(
                "First steps with Celery",
                "getting-started/first-steps-with-celery.html",
                "Celery requires a solution to send and receive messages, called a message broker; RabbitMQ and "
                "Redis are both feature complete. Create an application with `app = Celery('tasks', "
                "broker='redis://localhost:6379/0')` and decorate functions with `@app.task`.\n\n"
                "Start a worker with `celery -A tasks worker --loglevel=INFO`, then call `add.delay(4, 4)` to send "
                "a task message.",
            ),
            ChunkSeed(
                "First steps with Django",
                "django/first-steps-with-django.html",
                "Define a Celery instance in `proj/celery.py`, load its configuration from the Django settings with "
                "`app.config_from_object('django.conf:settings', namespace='CELERY')` and call "
                "`app.autodiscover_tasks()` to find `tasks.py` modules in installed apps.\n\n"
                "Use `@shared_task` in reusable apps, and `transaction.on_commit(lambda: task.delay(pk))` so the "
                "worker never reads a row that was not committed yet.",
            ),
            ChunkSeed(
                "Tasks: retrying",
                "userguide/tasks.html#retrying",
                "`Task.retry()` can be used to re-execute a task, for example in the event of recoverable errors. "
                "Declare `autoretry_for=(ConnectionError,)` with `retry_backoff=True` to retry automatically with "
                "exponential backoff.\n\n"
                "With `acks_late=True` the message is acknowledged after the task has run, so a task must be "
                "idempotent: it may run more than once.",
            ),
            ChunkSeed(
                "Periodic tasks",
                "userguide/periodic-tasks.html",
                "celery beat is a scheduler: it kicks off tasks at regular intervals that are then executed by "
                "available worker nodes. Schedules can be declared in `beat_schedule` with `crontab()` entries.\n\n"
                "With `django-celery-beat`, schedules are stored in the database and can be edited in the Django "
                "admin; start beat with `--scheduler django_celery_beat.schedulers:DatabaseScheduler`.",
            ),
            ChunkSeed(
                "Canvas: designing work-flows",
                "userguide/canvas.html",
                "Signatures wrap the arguments of a single task invocation so it can be passed around. Primitives "
                "combine them: `group` runs tasks in parallel, `chain` links them one after another, and `chord` "
                "calls a callback once every task of a group has finished.\n\n"
                "`chunks` splits a long list of arguments into parts, each processed by one task.",
            ),
        ),
    ),
)
