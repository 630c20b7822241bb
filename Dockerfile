# Lotse's production image: the ASGI server, a Celery worker or beat, by command.
FROM node:20-bookworm-slim AS static
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && useradd --system --uid 10001 lotse
COPY --from=static /app/node_modules ./node_modules
COPY . .
RUN DEBUG=0 SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost SITE_URL=http://localhost \
    python manage.py collectstatic --no-input -v 0
USER 10001
EXPOSE 8000
CMD ["uvicorn", "courseware.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets", "--lifespan", "off"]
