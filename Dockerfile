# The bot's image for compose.yaml: exactly the locked versions, as the README installs them.
FROM python:3.11-slim
WORKDIR /opt/gongzhi
COPY . .
RUN pip install --no-cache-dir -c requirements.lock -e ".[postgres]" \
    && useradd --system --home /opt/gongzhi gongzhi
USER gongzhi
CMD ["gongzhi", "run", "--webhook"]
